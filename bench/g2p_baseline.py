"""Classical G2P baseline: a Phonetisaurus joint n-gram model trained on our CMU dictionary split and scored by our
WER/PER code, the number a Transformer G2P model has to beat.

    python bench/g2p_baseline.py [--split test dev] [--order 8] [--limit N] [--output-dir DIR]

Training lexicon: every pronunciation of every word of `corpus.grouped("train")` (stress removed, as for our
models). Phonetisaurus (PyPI `phonetisaurus`, the `bench` extra, which bundles its binaries) aligns letters to
phonemes (`phonetisaurus-train --seq2_del`, as its Python API), trains an n-gram model of --order over the
aligned pairs and decodes each word of each --split to its 1-best pronunciation (`phonetisaurus-g2pfst`), one
row per split from the one model. Scores come from `tf_transformer.evaluation.g2p_scores`: a word is right if it
equals any of its references. A word the decoder gives no pronunciation for is scored as the empty hypothesis
(wrong) and counted. --limit N trains on the first N training words and evaluates the first N words of each split,
for quick checks. The model files live in a temporary directory and are deleted. --output-dir DIR writes
DIR/<split>.tsv, each word with its references and Phonetisaurus' output, in `tf-transformer evaluate --output`'s
format (bench/g2p_errors.py compares such files).

The whole CMU split takes about 3 minutes on 2 cores (almost all of it the letter-phoneme alignment).
"""

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import report  # noqa: E402

from tf_transformer.config import DataConfig  # noqa: E402
from tf_transformer.data.corpora import load_corpus  # noqa: E402
from tf_transformer.evaluation import g2p_scores  # noqa: E402
from tf_transformer.scoring import write_outputs  # noqa: E402

COLUMNS = ["split", "words", "WER", "PER", "train_s", "predict_s", "ngram_order", "no_hypothesis"]
RESERVED = re.compile(r"[_|}\xa0]")  # phonetisaurus-train refuses lexicon lines with these


def phonetisaurus_environment():
    """os.environ with the phonetisaurus wheel's bundled binaries and libraries first on PATH / LD_LIBRARY_PATH."""
    try:
        import phonetisaurus
    except ImportError:
        sys.exit('error: phonetisaurus is not installed; run `pip install -e ".[bench]"` (or `pip install '
                 'phonetisaurus==0.3.0`)')
    return {**os.environ, **phonetisaurus.guess_environment()}  # which returns only PATH and LD_LIBRARY_PATH


def run_tool(command, environment, directory):
    """Run one Phonetisaurus command in `directory`; its stdout, or exit with its last stderr line on failure."""
    result = subprocess.run(command, cwd=directory, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"error: {command[0]} exited with status {result.returncode}: {last}")
    return result.stdout


def train(lexicon, order, directory, environment):
    """(model path, pronunciations skipped) after training on lexicon [(word, [pronunciations])] in `directory`."""
    lines = [f"{word}\t{pronunciation}" for word, pronunciations in lexicon for pronunciation in pronunciations]
    kept = [line for line in lines if not RESERVED.search(line)]
    path = os.path.join(directory, "lexicon.tsv")
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(line + "\n" for line in kept)
    run_tool(["phonetisaurus-train", "--lexicon", path, "--seq2_del", "--ngram_order", str(order),
              "--dir_prefix", directory, "--model_prefix", "model"], environment, directory)
    return os.path.join(directory, "model.fst"), len(lines) - len(kept)


def predict(words, model, directory, environment, nbest=1):
    """{word: [(-log P(word, pronunciation), "PH O NE S"), ...]}, up to `nbest` per word, best first; words the
    decoder gives no pronunciation for are absent."""
    path = os.path.join(directory, "words.txt")
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(word + "\n" for word in words)
    output = run_tool(["phonetisaurus-g2pfst", f"--model={model}", f"--wordlist={path}", f"--nbest={nbest}"],
                      environment, directory)
    hypotheses = {}
    for line in output.splitlines():
        word, score, pronunciation = (line.split("\t", 2) + ["", ""])[:3]
        if not pronunciation.strip():
            continue
        hypotheses.setdefault(word, []).append((float(score), " ".join(pronunciation.split())))
    return hypotheses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--split", nargs="+", choices=["test", "dev"], default=["test"],
                        help="the splits to evaluate (one row each)")
    parser.add_argument("--order", type=int, default=8, help="n-gram order (Phonetisaurus' default: 8)")
    parser.add_argument("--limit", type=int, help="train on the first N training words, evaluate the first N")
    parser.add_argument("--output-dir", metavar="DIR", help="also write DIR/<split>.tsv: every word's output")
    args = parser.parse_args()
    if args.order < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--order and --limit must be at least 1")
    if args.output_dir and not os.path.isdir(args.output_dir):
        parser.error(f"--output-dir {args.output_dir}: not a directory; create it first")

    environment = phonetisaurus_environment()
    corpus = load_corpus(DataConfig(corpus="cmudict"))
    lexicon = corpus.grouped("train")[:args.limit]
    rows, missing_by_split = [], {}
    with tempfile.TemporaryDirectory(prefix="g2p_baseline_") as directory:
        start = time.perf_counter()
        model, skipped = train(lexicon, args.order, directory, environment)
        train_seconds = time.perf_counter() - start
        if skipped:
            print(f"skipped {skipped} training pronunciations containing Phonetisaurus' reserved characters _ | }}")
        for split in dict.fromkeys(args.split):
            evaluation = corpus.grouped(split)[:args.limit]
            row, missing_by_split[split], hypotheses = _evaluate(evaluation, model, directory, environment)
            rows.append({"split": split, **row, "train_s": train_seconds, "ngram_order": args.order})
            if args.output_dir:
                write_outputs(os.path.join(args.output_dir, f"{split}.tsv"), evaluation, {"phonetisaurus": hypotheses})
    report("g2p_baseline", COLUMNS, rows, extra={
        "tool": f"phonetisaurus {importlib.metadata.version('phonetisaurus')} (phonetisaurus-train --seq2_del, "
                "phonetisaurus-g2pfst --nbest=1)",
        "train_words": len(lexicon), "train_pronunciations": sum(len(p) for _, p in lexicon),
        "train_pronunciations_skipped": skipped, "limit": args.limit, "no_hypothesis_words": missing_by_split,
        "scoring": "tf_transformer.evaluation.g2p_scores"})


def _evaluate(evaluation, model, directory, environment):
    """(row fields, words without a hypothesis, hypotheses) for evaluation [(word, [references])], words missing
    scored as ""."""
    words = [word for word, _ in evaluation]
    start = time.perf_counter()
    predicted = {word: best[0][1] for word, best in predict(words, model, directory, environment).items()}
    predict_seconds = time.perf_counter() - start
    missing = [word for word in words if not predicted.get(word)]
    if missing:
        print(f"{len(missing)} words got no hypothesis (scored wrong): {', '.join(missing[:20])}")
    hypotheses = [predicted.get(word, "") for word in words]
    scores = g2p_scores(hypotheses, [references for _, references in evaluation])
    return {"words": len(words), "WER": scores["wer"], "PER": scores["per"], "predict_s": predict_seconds,
            "no_hypothesis": len(missing)}, missing, hypotheses


if __name__ == "__main__":
    main()
