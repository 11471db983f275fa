"""G2P system combination: trained Transformers and the Phonetisaurus baseline each propose an n-best list for
every word, and the union is rescored by log P_transformer(pronunciation | word) + w * log P_ngram(word,
pronunciation), with w chosen on dev and then, with --test, read once on test.

    python bench/g2p_combine.py RUN_DIR [RUN_DIR ...] [--right-to-left RUN_DIR] [--beam 8] [--nbest 8] [--test]
    python bench/g2p_combine.py --write-reversed runs/cmudict_r2l.tsv     # the corpus of a right-to-left run

An experiment for the quality issue (how much do the neural and the joint n-gram model know that the other does
not?), not a package feature, and not a Transformer-only result: the combined row uses the baseline it is compared
with. RUN_DIR is a G2P run on the CMU dictionary (or its `average` output, or a run on a tsv corpus with
`data.task: g2p` whose dev and test words are the dictionary's, as bench/g2p_pseudo_label.py writes); with several,
the Transformer feature is their mean log-probability (an ensemble) and each proposes its beam. A --right-to-left
run is the recipe trained on the tsv corpus --write-reversed writes (every pronunciation reversed, the same split);
it proposes and scores pronunciations read backwards. Phonetisaurus is trained as bench/g2p_baseline.py does, on
the dictionary's training words (~3 minutes).

Candidates: each Transformer's beam search (--beam, all its hypotheses) and Phonetisaurus' --nbest best paths.
Features: the Transformers' mean teacher-forced log-probability of each candidate (its tokens and [END], no
length penalty) and the n-gram model's joint log-probability; a candidate outside the n-gram n-best gets that word's
worst n-best log-probability minus a penalty, chosen on dev with w (a grid). Rows for each split: each system's
1-best, the Transformers alone re-ranking their own beams (no n-gram: an ensemble when there are several), the
combination, and the oracle (right if any candidate is). WER/PER from
`tf_transformer.evaluation.g2p_scores` (a word is right if it matches any reference).
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report  # noqa: E402
from g2p_baseline import phonetisaurus_environment, predict, train  # noqa: E402

from tf_transformer.config import END_ID, PAD_ID, START_ID  # noqa: E402
from tf_transformer.data.corpora import cmudict_path, load_corpus, read_cmudict  # noqa: E402
from tf_transformer.errors import TransformerError  # noqa: E402
from tf_transformer.evaluation import g2p_scores  # noqa: E402
from tf_transformer.run_dir import load_run  # noqa: E402
from tf_transformer.translation import Translator  # noqa: E402

COLUMNS = ["split", "system", "words", "WER", "PER"]
WEIGHTS = np.round(np.arange(0.0, 2.0001, 0.05), 2)  # w: the n-gram log-probability's weight
# how far below the word's worst n-gram n-best entry a candidate outside that n-best is put
PENALTIES = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 24.0, np.inf]


def transformer_log_probs(run, sources, targets, batch_size=1024):
    """log P(target | source) under run.model, teacher-forced: float64 [N] for N (source, target) strings.

    The pairs are scored in order of length, so a batch pads little (in file order a batch of 1024 pads to its
    longest word: 3-4x the work on a word list)."""
    source_ids = run.source_tokenizer.tokenize(tf.constant(sources))
    target_ids = run.target_tokenizer.tokenize(tf.constant(targets))
    order = np.lexsort((target_ids.row_lengths().numpy(), source_ids.row_lengths().numpy()))
    source_ids, target_ids = tf.gather(source_ids, order), tf.gather(target_ids, order)

    @tf.function(reduce_retracing=True)
    def score(source, target):  # ragged [B, None] each -> [B]
        rows = target.nrows()
        target_in = tf.concat([tf.fill([rows, 1], START_ID), target], axis=1).to_tensor(PAD_ID)
        target_out = tf.concat([target, tf.fill([rows, 1], END_ID)], axis=1).to_tensor(PAD_ID)
        logits = run.model({"source_ids": source.to_tensor(PAD_ID), "target_ids": target_in})
        token_log_probs = tf.gather(tf.nn.log_softmax(tf.cast(logits, tf.float32)), target_out, batch_dims=2)
        return tf.reduce_sum(tf.where(target_out != PAD_ID, token_log_probs, 0.0), axis=1)

    scores = np.concatenate([score(source_ids[begin:begin + batch_size], target_ids[begin:begin + batch_size])
                             .numpy() for begin in range(0, len(sources), batch_size)]).astype(np.float64)
    return scores[np.argsort(order)]


def reverse(pronunciation):
    """The phonemes of a pronunciation in reverse order: what a right-to-left model reads and writes."""
    return " ".join(pronunciation.split()[::-1])


def make_translators(runs, beam):
    """A beam-search `Translator` per run (--beam hypotheses each, the run's own length penalty), made once: each
    traces its decoding on first use."""
    return [Translator(run.model, run.source_tokenizer, run.target_tokenizer, "beam", beam_size=beam, n_best=beam,
                       length_penalty=run.recipe.decoding.length_penalty) for run, _ in runs]


def ensemble_beams(translators, runs, words, batch_size=256):
    """Each run's beam over `words`: per run, each word's [(text, score)] hypotheses in reading order (a right-to-left
    run's turned back). runs: [(loaded run, reads right to left)], paired with `translators`."""
    beams = []
    for translator, (_, backward) in zip(translators, runs):
        found = translator.translate(words, batch_size=batch_size, progress=True)
        beams.append([[(reverse(text), score) for text, score in best] for best in found] if backward else found)
    return beams


def ensemble_log_probs(runs, sources, texts):
    """The runs' mean teacher-forced log P(text | source) (a right-to-left run scores the text reversed): float64
    [N] for N (source, text) strings."""
    return np.mean([transformer_log_probs(run, sources, [reverse(text) for text in texts] if backward else texts)
                    for run, backward in runs], axis=0)


def write_reversed(path):
    """Write the CMU dictionary (stress removed) as a tsv corpus of word<TAB>reversed pronunciation. Its split keys
    are the words, as the cmudict corpus', so a run on it trains, tunes and tests on the same words."""
    pairs, _ = read_cmudict(cmudict_path())
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(f"{word}\t{reverse(pronunciation)}\n" for word, pronunciation in pairs)
    print(f"wrote {len(pairs)} reversed pronunciations to {path}; train a right-to-left run on it with "
          f"--set data.corpus=tsv --set data.path={path} --set data.task=g2p")


class Candidates:
    """Every word's candidates, flat and grouped by word: the word index, the two features and correctness."""

    def __init__(self, evaluation, beams, ngram, runs):
        """evaluation: [(word, [references])]; beams: per run, each word's [(text, score)] hypotheses in reading
        order; ngram: word -> [(cost, text)] (g2p_baseline.predict); runs: [(loaded run, reads right to left)],
        each scoring every candidate."""
        self.words = len(evaluation)
        self.firsts = [[best[0][0] for best in beam] for beam in beams]
        self.firsts.append([ngram[word][0][1] if word in ngram else "" for word, _ in evaluation])
        self.word, self.text, ngram_scores, from_transformer = [], [], [], []
        self.worst = np.zeros(len(evaluation))
        for index, (word, _) in enumerate(evaluation):
            scored = {text: -score for score, text in ngram.get(word, [])}
            self.worst[index] = min(scored.values(), default=0.0)
            proposed = dict.fromkeys(text for beam in beams for text, _ in beam[index])
            for text in dict.fromkeys(list(proposed) + list(scored)):
                if text:
                    self.word.append(index)
                    self.text.append(text)
                    ngram_scores.append(scored.get(text, np.nan))
                    from_transformer.append(text in proposed)
        self.word, self.ngram = np.array(self.word), np.array(ngram_scores)
        self.from_transformer = np.array(from_transformer)
        self.starts = np.flatnonzero(np.r_[True, self.word[1:] != self.word[:-1]])
        self.neural = ensemble_log_probs(runs, [evaluation[i][0] for i in self.word], self.text)
        references = [set(options) for _, options in evaluation]
        self.right = np.array([text in references[i] for i, text in zip(self.word, self.text)])

    def choose(self, weight, penalty, transformer_only=False):
        """Index of each word's best candidate (words without any candidate are skipped) under the combination;
        `transformer_only` leaves out the candidates only Phonetisaurus proposed (then weight should be 0)."""
        ngram = np.where(np.isnan(self.ngram), self.worst[self.word] - penalty, self.ngram)
        total = self.neural + weight * np.nan_to_num(ngram, neginf=-1e9)
        if transformer_only:
            total = np.where(self.from_transformer, total, -np.inf)
        order = np.lexsort((-total, self.word))
        return order[self.starts]

    def wer(self, chosen):
        """WER (%) of a choice, words without candidates counted wrong."""
        return 100.0 * (1.0 - self.right[chosen].sum() / self.words)

    def hypotheses(self, chosen):
        """Each word's chosen pronunciation ("" for a word without candidates)."""
        texts = [""] * self.words
        for index in chosen:
            texts[self.word[index]] = self.text[index]
        return texts


def add_run_arguments(parser, nargs):
    """RUN_DIR ... (left to right) and --right-to-left RUN_DIR (repeatable): the Transformers of an ensemble."""
    parser.add_argument("run_dirs", nargs=nargs, metavar="RUN_DIR",
                        help="trained G2P run directories (or their `average` output); several form an ensemble")
    parser.add_argument("--right-to-left", action="append", default=[], metavar="RUN_DIR",
                        help="a run trained on reversed pronunciations (bench/g2p_combine.py --write-reversed); "
                             "joins the ensemble")


def load_runs(run_dirs, right_to_left):
    """[(loaded run, reads right to left)] for the left-to-right `run_dirs` and the `right_to_left` ones; a one-line
    exit for a directory that is not a run, or a left-to-right run that is not G2P."""
    runs = []
    for run_dir, backward in [(path, False) for path in run_dirs] + [(path, True) for path in right_to_left]:
        try:
            runs.append((load_run(run_dir), backward))
        except TransformerError as error:
            sys.exit(f"error: {error}")
        if not backward and runs[-1][0].recipe.task != "g2p":
            sys.exit(f"error: {run_dir}: a {runs[-1][0].recipe.task} run; give G2P runs (cmudict, or a tsv lexicon "
                     "with data.task: g2p; a run on reversed pronunciations goes after --right-to-left)")
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_run_arguments(parser, nargs="*")
    parser.add_argument("--write-reversed", metavar="TSV",
                        help="write the CMU dictionary as word<TAB>reversed pronunciation (a tsv corpus with the "
                             "same split) for training a right-to-left run, and exit")
    parser.add_argument("--beam", type=int, default=8, help="the Transformer's beam size; all hypotheses kept")
    parser.add_argument("--nbest", type=int, default=8, help="Phonetisaurus' n-best paths per word")
    parser.add_argument("--order", type=int, default=8, help="Phonetisaurus' n-gram order")
    parser.add_argument("--test", action="store_true",
                        help="also score the test split with the weights chosen on dev (once, for the final choice)")
    parser.add_argument("--limit", type=int, help="train Phonetisaurus on the first N words, evaluate the first N")
    args = parser.parse_args()
    if min(args.beam, args.nbest, args.order, args.limit or 1) < 1:
        parser.error("--beam, --nbest, --order and --limit must be at least 1")
    if args.write_reversed:
        try:
            write_reversed(args.write_reversed)
        except TransformerError as error:  # the CMU dictionary is missing or malformed
            sys.exit(f"error: {error}")
        except OSError as error:
            sys.exit(f"error: {args.write_reversed}: cannot write the reversed corpus ({error.strerror}); check the "
                     "path")
        return
    if not args.run_dirs:
        parser.error("give at least one left-to-right RUN_DIR")
    runs = load_runs(args.run_dirs, args.right_to_left)
    # the CMU dictionary's split, whatever corpus a run trained on (a student's tsv holds more training words)
    corpus = load_corpus(dataclasses.replace(runs[0][0].recipe.data, corpus="cmudict", path=None, task=None))
    environment = phonetisaurus_environment()
    translators = make_translators(runs, args.beam)
    candidates = {}
    with tempfile.TemporaryDirectory(prefix="g2p_combine_") as directory:
        start = time.perf_counter()
        model, _ = train(corpus.grouped("train")[:args.limit], args.order, directory, environment)
        print(f"Phonetisaurus trained in {time.perf_counter() - start:.0f} s", flush=True)
        for split in ("dev", "test") if args.test else ("dev",):
            evaluation = corpus.grouped(split)[:args.limit]
            words = [word for word, _ in evaluation]
            ngram = predict(words, model, directory, environment, nbest=args.nbest)
            candidates[split] = (evaluation, Candidates(evaluation, ensemble_beams(translators, runs, words), ngram,
                                                        runs))
            print(f"{split}: {len(candidates[split][1].text) / len(words):.1f} candidates a word", flush=True)

    dev = candidates["dev"][1]
    weight, penalty = min(((w, p) for w in WEIGHTS for p in PENALTIES), key=lambda wp: dev.wer(dev.choose(*wp)))
    print(f"chosen on dev: w = {weight}, penalty = {penalty}")
    ensemble = "Transformer" if len(runs) == 1 else f"{len(runs)} Transformers"
    rows = []
    for split, (evaluation, found) in candidates.items():
        references = [options for _, options in evaluation]
        systems = {f"Transformer {run_dir}{', right to left' if backward else ''}, beam {args.beam} (length penalty "
                   f"{run.recipe.decoding.length_penalty})": first
                   for run_dir, (run, backward), first in zip(args.run_dirs + args.right_to_left, runs, found.firsts)}
        systems.update({
            f"Phonetisaurus, {args.order}-gram": found.firsts[-1],
            f"{ensemble} rescoring their own beams (no n-gram)": found.hypotheses(found.choose(0.0, 0.0, True)),
            f"{ensemble} rescoring all candidates (w = 0)": found.hypotheses(found.choose(0.0, 0.0)),
            f"combined, w = {weight}, penalty = {penalty}": found.hypotheses(found.choose(weight, penalty))})
        for name, hypotheses in systems.items():
            scores = g2p_scores(hypotheses, references)
            rows.append({"split": split, "system": name, "words": found.words, "WER": scores["wer"],
                         "PER": scores["per"]})
        oracle = 100.0 * (1.0 - len(set(found.word[found.right])) / found.words)
        rows.append({"split": split, "system": "oracle of the candidates", "words": found.words, "WER": oracle,
                     "PER": float("nan")})
    report("g2p_combine", COLUMNS, rows, extra={
        "run_dirs": args.run_dirs, "right_to_left": args.right_to_left, "beam": args.beam, "nbest": args.nbest,
        "ngram_order": args.order, "limit": args.limit, "weight": float(weight), "penalty": float(penalty),
        "scoring": "tf_transformer.evaluation.g2p_scores"})


if __name__ == "__main__":
    main()
