"""Score a run directory, an export or a .tflite on a split of its corpus: the library side of
`tf-transformer evaluate`.

    from tf_transformer.scoring import score_split
    from tf_transformer.translators import Source
    result = score_split(Source(run_dir="runs/g2p"), "dev")
    print(result.table())           # one row per decoding (greedy, beam K): WER/PER or BLEU/chrF, sentences/s
    result.as_dict()                # what `evaluate --json` writes
    result.write_outputs("dev.tsv")  # what `evaluate --output` writes: every source, its references, each output
"""

import csv
import dataclasses
import time

from tf_transformer.data import load_corpus
from tf_transformer.errors import ConfigError, DataError
from tf_transformer.evaluation import LOWER_IS_BETTER, scores_for
from tf_transformer.translation import translate_texts
from tf_transformer.translators import evaluation_translators


@dataclasses.dataclass
class SplitScores:
    """The scores of each decoding of one source on one split.

    Attributes:
        source: the `translators.Source` scored.
        recipe: its recipe (which names the corpus).
        split: "dev" or "test".
        task: "g2p" or "translation".
        sources: distinct source texts scored.
        rows: one dict per decoding: decoding (label), method, options, jit_compile, each metric of the task, and
            sentences_per_second (after tracing; XLA's per-bucket compilation counts, as a user waits for it).
        examples: [(source text, [reference texts])], in split order.
        outputs: {decoding label: [output text per example]}.
    """

    source: object
    recipe: object
    split: str
    task: str
    sources: int
    rows: list
    examples: list
    outputs: dict

    @property
    def metrics(self):
        """The task's metric names, in table order."""
        return list(scores_for(self.task, [""], [[""]]))

    def table(self):
        """A plain-text table: a title line, then one row per decoding, one column per metric, then sentences/s."""
        header = ["decoding", *self.metrics, "sentences/s"]
        body = [[row["decoding"], *(f"{row[name]:.2f}" for name in self.metrics),
                 f"{row['sentences_per_second']:.1f}"] for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [f"{self.source.label}  {self.split}: {self.sources} sources, task {self.task}",
                 "  ".join(cell.ljust(width) for cell, width in zip(header, widths)),
                 "  ".join("-" * width for width in widths)]
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in body]
        return "\n".join(line.rstrip() for line in lines)

    def as_dict(self):
        """A JSON-ready summary: where the model came from, the recipe, split, task and every row."""
        return {"run_dir": self.source.run_dir and str(self.source.run_dir),
                "ensemble": list(self.source.run_dirs[1:]),
                "model": self.source.model and str(self.source.model),
                "tflite": self.source.tflite and str(self.source.tflite),
                "recipe": self.recipe.name, "split": self.split, "task": self.task, "sources": self.sources,
                "primary_metric": self.recipe.best_metric, "lower_is_better": sorted(LOWER_IS_BETTER),
                "results": self.rows}

    def write_outputs(self, path):
        """`write_outputs` of this split's examples and every decoding's outputs."""
        write_outputs(path, self.examples, self.outputs)


def write_outputs(path, examples, outputs):
    """A TSV for error analysis (what `evaluate --output` writes): a header, then per example its source, its
    references (joined by " | "), and for each decoding its output and whether that equals one of the references
    (column "<label> exact", 1/0; spaces normalised: for G2P, a right word).

    Args:
        path: the file to write.
        examples: [(source text, [reference texts])].
        outputs: {decoding label: [output text per example]}.
    """
    labels = list(outputs)
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(["source", "references", *(f"{label}{suffix}" for label in labels
                                                   for suffix in ("", " exact"))])
        for index, (text, references) in enumerate(examples):
            options = {" ".join(reference.split()) for reference in references}
            cells = []
            for label in labels:
                output = outputs[label][index]
                cells += [output, int(" ".join(output.split()) in options)]
            writer.writerow([text, " | ".join(references), *cells])


def score_split(source, split="test", beam_size=None, jit_compile=None, limit=None, batch_size=64, progress=False):
    """Decode every source of `split` with each decoding of `translators.evaluation_translators` and score it.

    Args:
        source: a `translators.Source` (run directory or an ensemble of them, export or .tflite).
        split: "dev" or "test".
        beam_size: the beam row's size (None: the recipe's, 4 if that is 1; 1: greedy only).
        jit_compile: decode with XLA (None: the recipe's).
        limit: score only the first `limit` sources of the split.
        batch_size: sentences per decoding batch.
        progress: show a progress bar per decoding on stderr.

    Returns:
        `SplitScores`.

    Raises:
        ConfigError: limit or batch_size below 1, or an option the source cannot honour.
        DataError: the split is empty.
        ModelPathError: the source does not load.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    recipe, translators = evaluation_translators(source, beam_size, jit_compile)
    task = recipe.task
    grouped = load_corpus(recipe.data).grouped(split)[:limit]
    if not grouped:
        raise DataError(f"{source.label}: the {split} split of corpus {recipe.data.corpus!r} is empty; "
                        "use a larger corpus or the other --split")
    sources, references = [text for text, _ in grouped], [options for _, options in grouped]
    rows, outputs = [], {}
    for label, method, options, translator in translators:
        translator.translate_batch(sources[:1])  # trace the decoding function outside the timing
        start = time.perf_counter()
        results = translate_texts(translator, sources, batch_size, progress=progress)
        seconds = time.perf_counter() - start
        outputs[label] = [text for text, _ in results]
        rows.append({"decoding": label, "method": method, "options": options, "jit_compile": translator.jit_compile,
                     **scores_for(task, outputs[label], references),
                     "sentences_per_second": len(sources) / max(seconds, 1e-9)})
    return SplitScores(source, recipe, split, task, len(sources), rows, grouped, outputs)
