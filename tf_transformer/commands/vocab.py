"""`tf-transformer vocab`: build tokenizers (vocabularies / SentencePiece models) and save them.

    tf-transformer vocab --corpus FILE --output DIR [--kind wordpiece|sentencepiece|char|whitespace]
                         [--vocab-size N|none] [--lowercase] [--round-to 8] [--min-frequency 1] [--column 0|1]
    tf-transformer vocab --config RECIPE [--set key=value ...] --output DIR

With `--corpus`, FILE holds one text per line (or, with `--column`, `source<TAB>target` pairs read as training
reads a tsv corpus, of which that column is used) and DIR receives one tokenizer. With `--config`, the recipe's
corpus is read and its training split gives DIR/source and DIR/target (the layout of a run directory's vocab/).
Load them with `tf_transformer.text.load_tokenizer(DIR)`.
"""

from tf_transformer.config import TOKENIZER_KINDS
from tf_transformer.errors import ConfigError


def add_parser(subparsers):
    parser = subparsers.add_parser("vocab", help="build and save tokenizers from a corpus or a recipe",
                                   description=__doc__, formatter_class=_raw_formatter())
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", metavar="FILE", help="UTF-8 text file, one text per line")
    source.add_argument("--config", metavar="RECIPE", help="a training recipe (YAML): builds source and target")
    parser.add_argument("--output", metavar="DIR", required=True, help="where the tokenizer(s) are saved")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override a recipe value, e.g. --set source_tokenizer.vocab_size=4000")
    parser.add_argument("--kind", default="wordpiece", choices=TOKENIZER_KINDS,
                        help="tokenizer kind for --corpus (default wordpiece)")
    parser.add_argument("--vocab-size", default="8000",
                        help="vocabulary size, reserved ids included; 'none' keeps every char/whitespace token")
    parser.add_argument("--lowercase", action="store_true", help="lower-case text first")
    parser.add_argument("--round-to", type=int, default=8, help="round the vocabulary size up to a multiple")
    parser.add_argument("--min-frequency", type=int, default=1, help="char/whitespace: drop rarer tokens")
    parser.add_argument("--column", type=int, choices=[0, 1],
                        help="use this tab-separated column of each line (0 = source, 1 = target)")
    parser.add_argument("--skip-malformed", action="store_true",
                        help="skip (and count) malformed lines instead of stopping at the first (with --config: "
                             "sets data.skip_malformed: true)")
    parser.set_defaults(run=run)


def run(args):
    import os

    from tf_transformer.config import TokenizerConfig
    from tf_transformer.text import build_recipe_tokenizers, build_tokenizer

    if args.config:
        from tf_transformer.commands.train import load_recipe_of
        from tf_transformer.data import load_corpus

        recipe = load_recipe_of(args)
        corpus = load_corpus(recipe.data)
        source, target = build_recipe_tokenizers(recipe, corpus.splits["train"])
        for side, tokenizer in (("source", source), ("target", target)):
            tokenizer.save(os.path.join(args.output, side))
            print(f"{side}: {tokenizer.kind}, {tokenizer.vocab_size} ids -> {os.path.join(args.output, side)}")
        return 0
    config = TokenizerConfig(kind=args.kind, vocab_size=_vocab_size(args.vocab_size), lowercase=args.lowercase,
                             round_to_multiple=args.round_to, min_frequency=args.min_frequency)
    texts, skipped = _read_texts(args.corpus, args.column, args.skip_malformed)
    tokenizer = build_tokenizer(config, texts)
    tokenizer.save(args.output)
    print(f"{tokenizer.kind}: {tokenizer.vocab_size} ids -> {args.output}"
          + (f" (malformed lines skipped: {skipped})" if skipped else ""))
    return 0


def _vocab_size(text):
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--vocab-size: expected an integer or 'none', got {text!r}") from None


def _read_texts(path, column, skip_malformed):
    """(texts, skipped lines): every line of `path`, or with `column` that side of its tsv pairs (`read_tsv`)."""
    import collections

    from tf_transformer.data.corpora import read_lines, read_tsv

    if column is not None:
        pairs, skipped = read_tsv(path, skip_malformed)
        return [pair[column] for pair in pairs], skipped
    counter = collections.Counter()
    return [line for _, line in read_lines(path, skip_malformed, counter)], counter["skipped"]


def _raw_formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter
