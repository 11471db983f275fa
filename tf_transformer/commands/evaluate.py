"""`tf-transformer evaluate (--run-dir DIR | --model saved_models/NAME | --tflite FILE) [--split dev|test]
[--beam-size K] [--limit N] [--json FILE] [--output FILE]`: score a trained run, or an export of one, on a split
of its corpus with greedy decoding and with beam search: BLEU and chrF (sacrebleu) for translation, WER and PER
for grapheme-to-phoneme (a word is right if it matches any of its pronunciations). An export runs its `greedy` and
`serving_default` signatures and finds the corpus through the recipe it carries (assets.extra/recipe.yaml); a
.tflite (run on LiteRT) scores the one decoding it was converted with, finding the corpus through the recipe in its
metadata. --output writes every source with its references and each decoding's output, for error analysis.
A repeated --run-dir scores the runs as one ensemble (`tf_transformer.ensemble`)."""

import json
import os
import sys

from tf_transformer.commands.arguments import add_model_arguments, add_xla_argument, one_line_warnings, source_of


def add_parser(subparsers):
    parser = subparsers.add_parser("evaluate", help="score a run on its dev or test split (greedy and beam)",
                                   description=__doc__)
    add_model_arguments(parser, allow_tflite=True, allow_ensemble=True)
    parser.add_argument("--split", choices=("dev", "test"), default="test", help="which split (default test)")
    parser.add_argument("--beam-size", type=int,
                        help="beam size of the beam row (default: the recipe's, 4 if that is 1); 1 = greedy only")
    parser.add_argument("--limit", type=int, help="only the first N sources of the split")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per decoding batch (default 64)")
    add_xla_argument(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON here")
    parser.add_argument("--output", metavar="FILE",
                        help="also write a TSV of every source, its references and each decoding's output (and "
                             "whether it equals a reference) here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.errors import DataError
    from tf_transformer.scoring import score_split

    for option, path in (("--json", args.json), ("--output", args.output)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise DataError(f"{path}: its directory does not exist; create it or pick another {option} path")
    with one_line_warnings():
        result = score_split(source_of(args), args.split, args.beam_size, args.jit_compile, args.limit,
                             args.batch_size, progress=not args.quiet)
    print(result.table())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(result.as_dict(), file, indent=2)
            file.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.output:
        result.write_outputs(args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
