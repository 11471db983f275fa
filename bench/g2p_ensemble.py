"""How much an ensemble of independently trained G2P runs gains over its members: greedy decoding on the mean of the
members' log-probabilities, each member alone and all together, scored on a split by our WER/PER.

    python bench/g2p_ensemble.py RUN_DIR RUN_DIR [...] [--split dev] [--limit N] [--batch-size 512]

An experiment for the quality issue (can more models buy what one model cannot?), not a package feature: decoding
recomputes the whole prefix every step (no cache, no XLA), which is simple and exact but slow for long outputs.
The runs must share the target vocabulary (the same recipe data gives the same vocab/ files). Rows: one per member,
then the ensemble; WER/PER from `tf_transformer.evaluation.g2p_scores` (a word is right if it matches any
reference), so a member's row equals `tf-transformer evaluate`'s greedy row.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report  # noqa: E402

from tf_transformer.config import END_ID, PAD_ID, START_ID  # noqa: E402
from tf_transformer.data.corpora import load_corpus  # noqa: E402
from tf_transformer.errors import TransformerError  # noqa: E402
from tf_transformer.evaluation import g2p_scores  # noqa: E402
from tf_transformer.layers.attention import padding_mask  # noqa: E402
from tf_transformer.run_dir import load_run  # noqa: E402

COLUMNS = ["members", "words", "WER", "PER", "seconds"]
EXTRA_LENGTH = 16  # decoding steps beyond the source length, as the recipes' decoding.max_extra_length


def step_functions(model):
    """(encode(source_ids [B, S]) -> memory, next_log_probs(target_ids [B, T], memory, mask) -> [B, V])."""
    encode = tf.function(model.encode, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def next_log_probs(target_ids, memory, memory_mask):
        return tf.nn.log_softmax(model.decode(target_ids, memory, memory_mask).logits[:, -1])

    return encode, next_log_probs


def greedy(members, source_tokenizer, target_tokenizer, sources):
    """Pronunciations (strings) of `sources` by greedy decoding on the members' mean log-probabilities."""
    source_ids = source_tokenizer.tokenize(tf.constant(sources)).to_tensor(PAD_ID)
    mask = padding_mask(source_ids, PAD_ID)
    memories = [encode(source_ids) for encode, _ in members]
    target = np.full((len(sources), 1), START_ID, np.int32)
    finished = np.zeros(len(sources), bool)
    for _ in range(source_ids.shape[1] + EXTRA_LENGTH):
        log_probs = sum(step(tf.constant(target), memory, mask).numpy()
                        for (_, step), memory in zip(members, memories)) / len(members)
        log_probs[:, [PAD_ID, START_ID]] = -np.inf
        tokens = np.where(finished, PAD_ID, log_probs.argmax(-1)).astype(np.int32)
        target = np.concatenate([target, tokens[:, None]], axis=1)
        finished |= tokens == END_ID
        if finished.all():
            break
    return [text.decode() for text in target_tokenizer.detokenize(tf.constant(target)).numpy()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("run_dirs", nargs="+", help="trained G2P run directories (or their `average` outputs)")
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--limit", type=int, help="score only the first N words of the split")
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    if len(args.run_dirs) < 2 or args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        parser.error("give at least two run directories; --batch-size and --limit must be at least 1")
    try:
        runs = [load_run(path) for path in args.run_dirs]
    except TransformerError as error:
        sys.exit(f"error: {error}")
    for path, run in zip(args.run_dirs[1:], runs[1:]):
        if not run.target_tokenizer.same_ids_as(runs[0].target_tokenizer):
            sys.exit(f"error: {path}: its target vocabulary differs from {args.run_dirs[0]}'s; ensemble runs "
                     "trained on the same recipe data")
    evaluation = load_corpus(runs[0].recipe.data).grouped(args.split)[:args.limit]
    sources, references = [word for word, _ in evaluation], [options for _, options in evaluation]
    functions = [step_functions(run.model) for run in runs]
    rows = []
    for chosen in [[index] for index in range(len(runs))] + [list(range(len(runs)))]:
        start = time.perf_counter()
        hypotheses = []
        for begin in range(0, len(sources), args.batch_size):
            hypotheses += greedy([functions[i] for i in chosen], runs[0].source_tokenizer, runs[0].target_tokenizer,
                                 sources[begin:begin + args.batch_size])
        scores = g2p_scores(hypotheses, references)
        rows.append({"members": " + ".join(args.run_dirs[i] for i in chosen), "words": len(sources),
                     "WER": scores["wer"], "PER": scores["per"], "seconds": time.perf_counter() - start})
        print(f"{rows[-1]['members']}: WER {scores['wer']:.2f} PER {scores['per']:.2f}", flush=True)
    report("g2p_ensemble", COLUMNS, rows, extra={"split": args.split, "decoding": "greedy, mean log-probabilities"})


if __name__ == "__main__":
    main()
