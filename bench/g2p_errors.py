"""Where G2P systems go wrong, and whether they go wrong on the same words: compares `evaluate --output` TSVs.

    python bench/g2p_errors.py NAME=FILE NAME=FILE [...] [--column LABEL] [--examples 15]

Each FILE is a TSV of `tf-transformer evaluate --output` or `bench/g2p_baseline.py --output-dir` on the same split
(the same words in the same order); a system's output is the first decoding in its file, or the one labelled
--column ("greedy", "beam 4") where the file has it. A word is right if the output equals one of its references
(the file's "exact" column), as `tf_transformer.evaluation.g2p_scores` counts WER.

Rows: each system's WER, on all words and on the words with one and with several reference pronunciations; then
each pair: the words both get wrong, those only one of them gets wrong, and the oracle WER (right if either is
right: what any combination of the two could reach at most). Prints --examples words of each kind and writes
bench/results/g2p_errors.json.
"""

import argparse
import csv
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import report  # noqa: E402

COLUMNS = ["systems", "words", "WER", "WER_one_reference", "WER_several_references", "both_wrong", "only_first_wrong",
           "only_second_wrong", "oracle_WER"]


def read_outputs(path, column=None):
    """[(word, references, output, right)] from an outputs TSV; `column` picks the decoding (default the first)."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file, delimiter="\t")
            fields = reader.fieldnames or []
            decodings = [name for name in fields[2:] if not name.endswith(" exact")]
            if not decodings or fields[:2] != ["source", "references"]:
                sys.exit(f"error: {path}: not an `evaluate --output` TSV (its header is {fields[:4]})")
            label = column if column in decodings else decodings[0]
            return [(row["source"], row["references"].split(" | "), row[label], row[f"{label} exact"] == "1")
                    for row in reader]
    except OSError as error:
        sys.exit(f"error: {path}: {error.strerror}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("systems", nargs="+", metavar="NAME=FILE")
    parser.add_argument("--column", help="the decoding to read where a file has it (default: its first)")
    parser.add_argument("--examples", type=int, default=15, help="words to print of each kind (default 15)")
    args = parser.parse_args()
    systems = {}
    for item in args.systems:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"{item!r}: expected NAME=FILE")
        systems[name] = read_outputs(path, args.column)
    words = {name: [word for word, *_ in outputs] for name, outputs in systems.items()}
    first = next(iter(words))
    for name in words:
        if words[name] != words[first]:
            parser.error(f"{name} and {first} list different words: outputs of the same split are needed")

    rows, examples = [], {}
    for name, outputs in systems.items():
        rows.append({"systems": name, "words": len(outputs), "WER": _wer(outputs),
                     "WER_one_reference": _wer([o for o in outputs if len(o[1]) == 1]),
                     "WER_several_references": _wer([o for o in outputs if len(o[1]) > 1])})
    for (a, first_outputs), (b, second_outputs) in itertools.combinations(systems.items(), 2):
        pairs = list(zip(first_outputs, second_outputs, strict=True))
        kinds = {"both wrong": [(x, y) for x, y in pairs if not x[3] and not y[3]],
                 f"only {a} wrong": [(x, y) for x, y in pairs if not x[3] and y[3]],
                 f"only {b} wrong": [(x, y) for x, y in pairs if x[3] and not y[3]]}
        share = [100.0 * len(found) / len(pairs) for found in kinds.values()]
        rows.append({"systems": f"{a} / {b}", "words": len(pairs), "both_wrong": share[0],
                     "only_first_wrong": share[1], "only_second_wrong": share[2], "oracle_WER": share[0]})
        examples[f"{a} / {b}"] = {kind: [_example(x, (a, x[2]), (b, y[2])) for x, y in found[:args.examples]]
                                  for kind, found in kinds.items()}
    rows = [{column: row.get(column, "") for column in COLUMNS} for row in rows]
    report("g2p_errors", COLUMNS, rows, extra={"files": args.systems, "column": args.column, "examples": examples})
    for pair, kinds in examples.items():
        for kind, items in kinds.items():
            print(f"\n{pair}, {kind}:")
            for item in items:
                print("  " + item)


def _wer(outputs):
    return 100.0 * sum(not right for *_, right in outputs) / max(len(outputs), 1)


def _example(entry, *outputs):
    """One line: the word, each system's output, the references."""
    word, references = entry[0], entry[1]
    said = "; ".join(f"{name} {output!r}" for name, output in outputs)
    return f"{word}: {said} (references: {' | '.join(references)})"


if __name__ == "__main__":
    main()
