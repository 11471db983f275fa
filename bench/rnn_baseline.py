"""The thesis of the Transformer paper, measured: a recurrent encoder–decoder with Bahdanau attention and our
Transformer, trained on the same batches for the same wall-clock time, then scored on the dev split.

    python bench/rnn_baseline.py [--config training/configs/g2p_tiny.yaml] [--minutes 5] [--cell gru|lstm]
                                 [--units 100] [--dev-words N]

Data: the recipe read as `tf-transformer train` reads it (`load_recipe`, `load_corpus`, `build_recipe_tokenizers`
on the training split). Each model trains on its own fresh `make_dataset(train split, recipe.data)`, repeated: the
same seeded sequence of length-bucketed batches ((source_ids, target_in), target_out) from the first step on. One
device, no `tf.distribute` strategy; both models under the recipe's steps_per_execution and jit_compile.

Models (weights seeded with training.seed before each is built):
- "transformer": `tf_transformer.Transformer` of the recipe's model section, compiled by `trainer.compile_model`
  (Adam on the Noam schedule with the recipe's warm-up, label-smoothed `MaskedCrossEntropy`), as training does.
- "rnn_gru" / "rnn_lstm" (--cell): Bahdanau et al. (2015) from Keras layers. Embeddings of the recipe's d_model;
  a bidirectional GRU/LSTM encoder of --units per direction; the decoder's initial state tanh(W [forward final;
  backward final]); a teacher-forced GRU/LSTM decoder of --units; additive attention vᵀ tanh(W_q q + W_k k)
  (`keras.layers.AdditiveAttention` on bias-free projections to --units, source padding masked) of each decoder
  output over the encoder states; logits W_o tanh(W_c [decoder output; context]). The attention reads the decoder
  RNN's outputs instead of feeding the RNN (Luong's placement, as in TensorFlow's NMT tutorial), so a training
  step runs the decoder RNN over the whole target in one layer call. --units 100 (default) gives the GRU model
  the parameters of g2p_tiny's Transformer (240k and 239k; the LSTM has 309k). Dropout: the recipe's rate, on the
  embeddings and the combined output. Adam(1e-3), constant, the global gradient norm clipped at 5 (OpenNMT's
  RNN default); the rest of the compile is `compile_model`'s: the recipe's label-smoothed `MaskedCrossEntropy`,
  the `MaskedAccuracy` and `TokenCount` metrics (the same per-step work as the Transformer's).

Budget: `fit` runs on the repeated dataset until --minutes of wall time have passed, counted from the end of the
first step (the one that traces the train function, which Keras traces once: the batches have unknown lengths)
to the end of the step at which the budget ran out; the clock includes whatever `fit` does between steps.
"steps" counts every step, the first included (its update is not charged to the budget); "tokens_per_s" = real
(non-padding) source_ids + target_out tokens of the timed steps (bench/train.py's count) / the timed seconds;
"minutes" = the timed seconds / 60.

Dev: the first --dev-words words of `corpus.grouped("dev")` (all by default), greedy decoding after the budget,
scored by `g2p_scores` (a word is right if it equals any of its pronunciations). The Transformer decodes with the
trainer's `Translator`; the RNN with one `tf.while_loop` under the same limits (`greedy_decode`'s): each word stops
at [END] or after min(source length + decoding.max_extra_length, model max_length) tokens; [PAD] and [START] are
never chosen. Both through `translate_texts` (batches of 64 words of similar length).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report  # noqa: E402
from keras import ops  # noqa: E402

from tf_transformer import Transformer  # noqa: E402
from tf_transformer.config import END_ID, PAD_ID, START_ID, load_recipe  # noqa: E402
from tf_transformer.data import load_corpus, make_dataset  # noqa: E402
from tf_transformer.decoding.choosable import forbid_reserved  # noqa: E402
from tf_transformer.decoding.loop import same_shapes, write_column  # noqa: E402
from tf_transformer.evaluation import g2p_scores  # noqa: E402
from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy, TokenCount  # noqa: E402
from tf_transformer.text import build_recipe_tokenizers  # noqa: E402
from tf_transformer.trainer import compile_model  # noqa: E402
from tf_transformer.translation import Translator, translate_texts  # noqa: E402

COLUMNS = ["model", "params", "minutes", "steps", "tokens_per_s", "dev_WER", "dev_PER"]
RNN_LEARNING_RATE = 1e-3
RNN_CLIPNORM = 5.0


class BahdanauRNN(keras.Model):
    """Bidirectional recurrent encoder, recurrent decoder and additive attention (module docstring).

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes, reserved ids included.
        embedding_dim: width of both embeddings.
        units: width of each encoder direction, the decoder and the attention.
        cell: "gru" or "lstm".
        dropout: rate on the embeddings and the combined output.

    Call arguments:
        inputs: (source_ids int [B, S], target_in int [B, T]), 0 = padding; target_in starts with [START].
        training: whether dropout is active.

    Returns:
        float32 logits [B, T, target_vocab_size]; logits[:, t] predict target token t + 1.
    """

    def __init__(self, source_vocab_size, target_vocab_size, embedding_dim, units, cell="gru", dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        rnn = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
        self.state_count = 1 if cell == "gru" else 2  # h, or h and c
        self.source_embedding = keras.layers.Embedding(source_vocab_size, embedding_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(target_vocab_size, embedding_dim, name="target_embedding")
        self.encoder = keras.layers.Bidirectional(rnn(units, return_sequences=True, return_state=True),
                                                  name="encoder")
        self.bridges = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
                        for i in range(self.state_count)]
        self.decoder = rnn(units, return_sequences=True, return_state=True, name="decoder")
        self.query_projection = keras.layers.Dense(units, use_bias=False, name="query_projection")
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="key_projection")
        self.attention = keras.layers.AdditiveAttention(name="attention")  # its `scale` vector is Bahdanau's v
        self.combine = keras.layers.Dense(units, activation="tanh", name="combine")
        self.output_projection = keras.layers.Dense(target_vocab_size, name="output_projection")
        self.drop = keras.layers.Dropout(dropout)

    def call(self, inputs, training=False):
        source_ids, target_ids = inputs
        return self.decode(target_ids, *self.encode(source_ids, training), training)[0]

    def encode(self, source_ids, training=False):
        """(memory [B, S, 2·units], keys [B, S, units], source_mask bool [B, S], decoder states: list of
        [B, units]) for source_ids int [B, S]."""
        source_mask = ops.not_equal(source_ids, PAD_ID)
        x = self.drop(self.source_embedding(source_ids), training=training)
        memory, *final = self.encoder(x, mask=source_mask, training=training)
        forward, backward = final[:self.state_count], final[self.state_count:]
        states = [bridge(ops.concatenate([f, b], axis=-1)) for bridge, f, b in zip(self.bridges, forward, backward)]
        return memory, self.key_projection(memory), source_mask, states

    def decode(self, target_ids, memory, keys, source_mask, states, training=False):
        """Teacher-forced decoder pass from `encode`'s outputs: (logits float32 [B, T, V], the decoder states after
        position T, list of [B, units]); with target_ids [B, 1] it is one decoding step."""
        x = self.drop(self.target_embedding(target_ids), training=training)
        outputs, *states = self.decoder(x, initial_state=states, training=training)
        context = self.attention([self.query_projection(outputs), memory, keys], mask=[None, source_mask])
        combined = self.drop(self.combine(ops.concatenate([outputs, context], axis=-1)), training=training)
        return ops.cast(self.output_projection(combined), "float32"), states


def rnn_greedy_decode(model, source_ids, max_length, max_extra_length):
    """Greedy decoding of a `BahdanauRNN` in one `tf.while_loop` (the RNN state is the only cache).

    Args:
        source_ids: int32 [B, S], 0-padded on the right.
        max_length, max_extra_length: each row stops at [END] or after min(its source length + max_extra_length,
            max_length) tokens (0 for a row of padding), as `greedy_decode` limits the Transformer.

    Returns:
        (target_ids int32 [B, L]: up to and including [END], then 0s; scores float32 [B]: the summed
        log-probabilities of the chosen tokens).
    """
    memory, keys, source_mask, states = model.encode(source_ids)
    batch_size = tf.shape(source_ids)[0]
    source_lengths = tf.reduce_sum(tf.cast(source_mask, tf.int32), axis=1)
    row_limits = tf.where(source_lengths > 0, tf.minimum(source_lengths + max_extra_length, max_length), 0)
    length = tf.minimum(tf.shape(source_ids)[1] + max_extra_length, max_length)

    def keep_going(step, tokens, sequence, scores, finished, states):
        return tf.logical_and(step < length, tf.logical_not(tf.reduce_all(finished)))

    def advance(step, tokens, sequence, scores, finished, states):
        logits, states = model.decode(tokens[:, None], memory, keys, source_mask, states)
        logits = logits[:, 0]
        tokens = tf.where(finished, PAD_ID, tf.argmax(forbid_reserved(logits), axis=-1, output_type=tf.int32))
        scores += tf.where(finished, 0.0, tf.gather(tf.nn.log_softmax(logits), tokens, batch_dims=1))
        finished = finished | tf.equal(tokens, END_ID) | (step + 1 >= row_limits)
        return step + 1, tokens, write_column(sequence, step, tokens), scores, finished, states

    loop = (tf.constant(0), tf.fill([batch_size], START_ID), tf.zeros([batch_size, length], tf.int32),
            tf.zeros([batch_size]), row_limits <= 0, states)
    _, _, sequence, scores, _, _ = tf.while_loop(keep_going, lambda *loop: same_shapes(advance(*loop), loop), loop)
    return sequence, scores


class RNNTranslator:
    """What `translate_texts` needs of a translator (`translate_batch`, `n_best`), for a `BahdanauRNN`."""

    n_best = 1

    def __init__(self, model, source_tokenizer, target_tokenizer, max_length, max_extra_length):
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.decode = tf.function(lambda source_ids: rnn_greedy_decode(model, source_ids, max_length,
                                                                       max_extra_length),
                                  input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False)

    def translate_batch(self, texts):
        """[(translation, score)] for a list of non-blank strings, decoded as one padded batch."""
        source_ids = self.source_tokenizer.tokenize(tf.constant(texts, tf.string)).to_tensor(PAD_ID)
        target_ids, scores = self.decode(source_ids)
        strings = self.target_tokenizer.detokenize(target_ids).numpy()
        return [(text.decode("utf-8"), float(score)) for text, score in zip(strings, scores.numpy())]


class WallClockBudget(keras.callbacks.Callback):
    """Stops `fit` at the first step end `seconds` after the end of the first step, and keeps the counts.

    Args:
        seconds: the budget.
        counter: the tf.Variable `counted` adds each batch's real tokens to.
        name: the model's name in the progress lines (printed every tenth of the budget).

    After `fit`: steps (all, the first included), seconds and tokens (of the steps after the first), loss (Keras'
    mean training loss over all steps).
    """

    def __init__(self, seconds, counter, name):
        super().__init__()
        self.budget, self.counter, self.name = seconds, counter, name
        self.start = None
        self.steps, self.seconds, self.tokens, self.loss = 0, 0.0, 0, float("nan")

    def on_train_batch_end(self, batch, logs=None):
        now, tokens = time.perf_counter(), int(self.counter.numpy())
        self.steps, self.loss = batch + 1, float(logs["loss"])
        if self.start is None:
            self.start, self.start_tokens, self.next_line = now, tokens, self.budget / 10
            print(f"  {self.name}: first step (tracing) done, loss {self.loss:.3f}", flush=True)
            return
        self.seconds, self.tokens = now - self.start, tokens - self.start_tokens
        if self.seconds >= self.next_line or self.seconds >= self.budget:
            self.next_line += self.budget / 10
            print(f"  {self.name}: {self.seconds / 60:.2f} min, step {self.steps}, mean loss {self.loss:.3f}, "
                  f"{self.tokens / self.seconds:,.0f} tokens/s", flush=True)
        if self.seconds >= self.budget:
            self.model.stop_training = True


def counted(dataset, counter):
    """`dataset` whose batches add their real source_ids + target_out tokens to the int64 variable `counter`
    as they are taken. The map comes last and runs when a train step asks for its batch (not ahead, as the
    prefetch before it does), so after step k the counter holds the tokens of batches 1..k."""

    def count(inputs, target_out):
        real = sum(tf.math.count_nonzero(tf.not_equal(ids, PAD_ID)) for ids in (inputs[0], target_out))
        with tf.control_dependencies([counter.assign_add(real)]):
            return tf.nest.map_structure(tf.identity, (inputs, target_out))

    return dataset.map(count)


def train_for(name, model, minutes, train_dataset):
    """Fit `model` (compiled) on the repeated `train_dataset()` for `minutes`; the `WallClockBudget` with the counts."""
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    budget = WallClockBudget(60 * minutes, counter, name)
    model.fit(counted(train_dataset().repeat(), counter), epochs=1, steps_per_epoch=1 << 40, callbacks=[budget],
              shuffle=False, verbose=0)
    return budget


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--config", default="training/configs/g2p_tiny.yaml", help="the recipe (a cmudict one)")
    parser.add_argument("--minutes", type=float, default=5.0, help="wall-clock training budget per model")
    parser.add_argument("--cell", default="gru", choices=["gru", "lstm"], help="the RNN's recurrent cell")
    parser.add_argument("--units", type=int, default=100,
                        help="RNN width: each encoder direction, the decoder, the attention (100: about the "
                             "parameters of g2p_tiny's Transformer)")
    parser.add_argument("--dev-words", type=int, default=None, help="dev words decoded (default: all)")
    parser.add_argument("--name", default="rnn_baseline", help="results go to bench/results/NAME.json")
    args = parser.parse_args()

    recipe = load_recipe(args.config)
    if recipe.data.corpus != "cmudict":
        parser.error(f"{args.config}: a G2P recipe (data.corpus: cmudict) is needed for WER/PER")
    corpus = load_corpus(recipe.data)
    source_tokenizer, target_tokenizer = build_recipe_tokenizers(recipe, corpus.splits["train"])
    config = recipe.model_config(source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    dev = corpus.grouped("dev")[:args.dev_words]
    decoding = recipe.decoding
    print(f"{args.config}: {corpus}; {len(dev)} dev words; {args.minutes} min per model", flush=True)

    def train_dataset():  # fresh each time: the seeded shuffles then give every model the same batches
        return make_dataset(corpus.splits["train"], source_tokenizer, target_tokenizer, recipe.data)

    rows = []
    for name in ("transformer", f"rnn_{args.cell}"):
        keras.utils.set_random_seed(recipe.training.seed)
        if name == "transformer":
            model = Transformer(config)
            model.build()
            compile_model(model, recipe.training, target_tokenizer.num_tokens)
        else:
            model = BahdanauRNN(config.source_vocab_size, config.target_vocab_size, config.d_model, args.units,
                                args.cell, config.dropout)
            model((tf.ones((1, 2), tf.int32), tf.ones((1, 2), tf.int32)))
            model.compile(optimizer=keras.optimizers.Adam(RNN_LEARNING_RATE, global_clipnorm=RNN_CLIPNORM),
                          loss=MaskedCrossEntropy(recipe.training.label_smoothing, target_tokenizer.num_tokens),
                          metrics=[MaskedAccuracy(), TokenCount()],
                          steps_per_execution=recipe.training.steps_per_execution,
                          jit_compile=recipe.training.jit_compile)
        print(f"{name}: {model.count_params():,} parameters", flush=True)
        budget = train_for(name, model, args.minutes, train_dataset)
        translator = (Translator(model, source_tokenizer, target_tokenizer, "greedy", decoding.jit_compile,
                                 max_extra_length=decoding.max_extra_length) if name == "transformer" else
                      RNNTranslator(model, source_tokenizer, target_tokenizer, config.max_length,
                                    decoding.max_extra_length))
        start = time.perf_counter()
        hypotheses = [text for text, _ in translate_texts(translator, [word for word, _ in dev])]
        dev_seconds = time.perf_counter() - start
        scores = g2p_scores(hypotheses, [references for _, references in dev])
        rows.append({"model": name, "params": model.count_params(), "minutes": budget.seconds / 60,
                     "steps": budget.steps, "tokens_per_s": budget.tokens / max(budget.seconds, 1e-9),
                     "dev_WER": scores["wer"], "dev_PER": scores["per"], "mean_train_loss": budget.loss,
                     "dev_words": len(dev), "dev_decode_s": dev_seconds})
        print(rows[-1], flush=True)
        del model, translator
        keras.backend.clear_session()
    report(args.name, COLUMNS, rows, {"what": __doc__.split("\n\n")[0], "recipe": recipe.to_dict(),
                                      "minutes_budget": args.minutes, "rnn_units": args.units,
                                      "rnn_learning_rate": RNN_LEARNING_RATE, "rnn_clipnorm": RNN_CLIPNORM})


if __name__ == "__main__":
    main()
