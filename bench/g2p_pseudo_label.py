"""Pseudo-labels for G2P: words the CMU dictionary lacks, pronounced by an ensemble of trained Transformers, written
with the dictionary's own pairs as one tsv corpus, for training a student on more words (Sun et al. 2019).

    python bench/g2p_pseudo_label.py RUN_DIR [RUN_DIR ...] [--right-to-left RUN_DIR] --output runs/cmudict_pseudo.tsv
    tf-transformer train --config training/configs/g2p.yaml --run-dir runs/g2p_student \\
        --set data.corpus=tsv --set data.path=runs/cmudict_pseudo.tsv --set data.task=g2p

An experiment for the quality issue, not a package feature. The words: every lowercase word of the English side of
Debian's German-English dictionary (`apt-get install trans-de-en`; or --words FILE, one word per line) that is not in
the CMU dictionary, that the corpus split (`tf_transformer.data.corpora.split_of`, by word) puts in its training
split, and that the runs' source vocabulary spells. So the tsv's dev and test splits are exactly the dictionary's
(every word there keeps its references) and no labeled word reaches them.

Labels: each run's beam search proposes its --beam hypotheses (a --right-to-left run, trained on the corpus
`bench/g2p_combine.py --write-reversed` writes, reads them backwards), and the candidate with the highest mean
teacher-forced log-probability over the runs wins: the Transformers-only ensemble of bench/g2p_combine.py (dev WER
21.79 for the README's three runs with beam 8).
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from g2p_combine import add_run_arguments, ensemble_beams, ensemble_log_probs, load_runs, make_translators  # noqa: E402

from tf_transformer.data.corpora import DING_DEFAULT_PATH, cmudict_path, read_cmudict, read_ding, split_of  # noqa: E402
from tf_transformer.errors import TransformerError  # noqa: E402

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def ding_words(path=DING_DEFAULT_PATH):
    """The distinct lowercase words (letters, one inner apostrophe allowed, 2+ characters) of the English side of
    a Ding dictionary, in first-seen order."""
    pairs, _ = read_ding(path, "de-en")
    return list(dict.fromkeys(token for _, english in pairs for token in _WORD.findall(english) if len(token) > 1))


def file_words(path):
    """The distinct non-empty lines of a UTF-8 file, stripped and lowercased, in file order."""
    with open(path, encoding="utf-8") as file:
        return list(dict.fromkeys(line.strip().lower() for line in file if line.strip()))


def unlabeled(words, known, vocabulary, max_length):
    """The `words` to label: not in `known`, in the training split, spelled in `vocabulary`, at most `max_length`
    characters."""
    return [word for word in words if word not in known and split_of(word) == "train"
            and len(word) <= max_length and set(word) <= vocabulary]


def label(words, runs, beam):
    """Each word's pronunciation by the ensemble: the candidate of the runs' beams with the highest mean
    teacher-forced log-probability. runs: [(loaded run, reads right to left)]. Returns [str] (one per word)."""
    beams = ensemble_beams(make_translators(runs, beam), runs, words)
    flat = [(index, text) for index in range(len(words))
            for text in dict.fromkeys(text for found in beams for text, _ in found[index] if text)]
    scores = ensemble_log_probs(runs, [words[index] for index, _ in flat], [text for _, text in flat])
    labels, best = [""] * len(words), np.full(len(words), -np.inf)
    for (index, text), score in zip(flat, scores):
        if score > best[index]:
            labels[index], best[index] = text, score
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_run_arguments(parser, nargs="+")  # the teachers
    parser.add_argument("--output", required=True, metavar="TSV", help="the tsv corpus to write")
    parser.add_argument("--words", metavar="FILE",
                        help=f"words to label, one a line (default: the English words of {DING_DEFAULT_PATH})")
    parser.add_argument("--beam", type=int, default=4, help="each teacher's beam size; all hypotheses are candidates")
    parser.add_argument("--limit", type=int, help="label only the first N words (a trial)")
    args = parser.parse_args()
    if min(args.beam, args.limit or 1) < 1:
        parser.error("--beam and --limit must be at least 1")
    folder = os.path.dirname(os.path.abspath(args.output))  # checked now, not after minutes of labeling
    if os.path.isdir(args.output):
        sys.exit(f"error: {args.output}: cannot write the corpus there (it is a directory); check the path")
    if not os.path.isdir(folder):
        sys.exit(f"error: {args.output}: cannot write the corpus there (no folder {folder}); check the path")
    runs = load_runs(args.run_dirs, args.right_to_left)
    try:
        pairs, _ = read_cmudict(cmudict_path())
        words = file_words(args.words) if args.words else ding_words()
    except TransformerError as error:
        sys.exit(f"error: {error}")
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"error: {args.words}: cannot read the word list ({error}); give a UTF-8 file, one word a line")
    first = runs[0][0]
    vocabulary = {token for token in first.source_tokenizer.vocabulary() if len(token) == 1}
    words = unlabeled(words, {word for word, _ in pairs}, vocabulary, first.recipe.data.max_source_length)
    print(f"{len(words)} words to label (not in the CMU dictionary, in its training split, spelled in the runs' "
          "vocabulary)", flush=True)
    words = words[:args.limit]
    if not words:
        sys.exit("error: no word to label: every word is in the CMU dictionary, outside its training split or "
                 "spelled with characters the runs do not know")
    print(f"labeling {len(words)} words with {len(runs)} Transformer(s), beam {args.beam}", flush=True)
    start = time.perf_counter()
    labels = label(words, runs, args.beam)
    print(f"labeled in {time.perf_counter() - start:.0f} s", flush=True)
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            file.writelines(f"{word}\t{pronunciation}\n" for word, pronunciation in pairs)
            file.writelines(f"{word}\t{text}\n" for word, text in zip(words, labels) if text)
    except OSError as error:
        sys.exit(f"error: {args.output}: cannot write the corpus ({error.strerror}); check the path")
    print(f"wrote {len(pairs)} dictionary pairs and {sum(map(bool, labels))} labeled words to {args.output}; "
          f"train on it with --set data.corpus=tsv --set data.path={args.output} --set data.task=g2p")


if __name__ == "__main__":
    main()
