"""Encoder–decoder attention of one translation as a matrix, and as a PNG heat-map (the paper's Figures 3–5).

    attention = attention_map(model, source_tokenizer, target_tokenizer, "hello")
    attention = export_attention_map(tf.saved_model.load(path).signatures["attention"], "hello")   # an export
    attention.weights.shape          # [layers, heads, T, S]: row t = the step that produced output_tokens[t]
    plot_attention(attention, "attention.png", layer=2)          # heads averaged; head=3 for one head

The output is decoded greedily first; one teacher-forced pass over [START] + that output then gives every
decoder layer's cross-attention weights (the same weights the cached decoding used, step by step).
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure  # the Agg canvas: no display needed

from tf_transformer.config import DEFAULT_MAX_EXTRA_LENGTH, END_ID, PAD_ID, RESERVED_TOKENS, START_ID
from tf_transformer.decoding import BatchDecoder
from tf_transformer.errors import ConfigError, DataError
from tf_transformer.layers import padding_mask

SPACE_LABEL = "␣"  # a token that is (or holds) a space, e.g. the character tokenizer's word gap


@dataclasses.dataclass
class AttentionMap:
    """The cross-attention of one greedy translation.

    Attributes:
        source_tokens: the S source token strings (the model's input, after truncation to max_length).
        output_tokens: the T output token strings, [END] included when the model produced it.
        weights: float32 [layers, heads, T, S]; every row sums to 1 over the source.
        source_text: the input text; translation: the detokenized output text; score: its log-probability.
    """

    source_text: str
    source_tokens: list
    output_tokens: list
    weights: np.ndarray
    translation: str
    score: float


def attention_map(model, source_tokenizer, target_tokenizer, text, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH):
    """Decode `text` greedily and read the cross-attention weights of that output (see the module docstring).

    Raises:
        DataError: `text` gives no source tokens.
    """
    source_ids = source_tokenizer.tokenize(tf.constant([text], tf.string)).to_list()[0]
    if not source_ids:
        raise DataError(f"{text!r}: no source tokens to attend to; give a non-empty text")
    source_ids = np.array([source_ids], np.int32)
    decoder = BatchDecoder(model, "greedy", max_extra_length=max_extra_length, num_tokens=target_tokenizer.num_tokens)
    target_ids, scores = decoder(source_ids)  # warns and truncates past max_length
    source_ids = source_ids[:, :model.config.max_length]
    output = [int(token) for token in target_ids[0] if token != PAD_ID]
    if END_ID in output:
        output = output[:output.index(END_ID) + 1]
    output = output or [END_ID]
    target_in = np.array([[START_ID] + output[:-1]], np.int32)
    memory = model.encode(source_ids)
    per_layer = model.decode(target_in, memory, padding_mask(source_ids, PAD_ID)).attention_weights
    weights = np.stack([np.asarray(layer)[0] for layer in per_layer]).astype(np.float32)  # [L, H, T, S]
    translation = target_tokenizer.detokenize(target_ids[:1]).numpy()[0].decode("utf-8")
    return AttentionMap(text, token_labels(source_tokenizer, source_ids[0]), token_labels(target_tokenizer, output),
                        weights, translation, float(scores[0]))


def export_attention_map(signature, text):
    """`attention_map` of an export: `signature` is its "attention" signature (see export/saved_model.py).

    Raises:
        DataError: `text` gives no source tokens.
    """
    outputs = {name: value.numpy() for name, value in signature(text=tf.constant([text], tf.string)).items()}
    source_length = int(np.sum(outputs["source_ids"][0] != PAD_ID))
    if not source_length:
        raise DataError(f"{text!r}: no source tokens to attend to; give a non-empty text")
    output = [int(token) for token in outputs["target_ids"][0] if token != PAD_ID]
    length = output.index(END_ID) + 1 if END_ID in output else len(output)
    tokens = lambda name, n: [_label(t.decode("utf-8")) for t in outputs[name][0][:n]]  # noqa: E731
    return AttentionMap(text, tokens("source_tokens", source_length), tokens("output_tokens", length),
                        outputs["weights"][0][:, :, :length, :source_length].astype(np.float32),
                        outputs["translation"][0].decode("utf-8"), float(outputs["score"][0]))


def token_labels(tokenizer, ids):
    """Readable strings for token ids: the vocabulary's tokens, spaces shown as ␣, unknown ids as [UNK]."""
    vocabulary = tokenizer.vocabulary()
    return [_label(vocabulary[token_id] if 0 <= token_id < len(vocabulary) else RESERVED_TOKENS[1])
            for token_id in ids]


def _label(token):
    return token.replace(" ", SPACE_LABEL) if token.strip() or not token else SPACE_LABEL


def select_panels(weights, layer=None, head=None):
    """The heat-maps to draw: [(title, float [T, S]), ...] for `layer` (1-based; None = every layer), heads
    averaged, or only `head` (1-based).

    Raises:
        ConfigError: layer or head out of range, naming the valid range.
    """
    num_layers, num_heads = weights.shape[:2]
    if layer is not None and not 1 <= layer <= num_layers:
        raise ConfigError(f"--layer {layer}: the decoder has layers 1..{num_layers}")
    if head is not None and not 1 <= head <= num_heads:
        raise ConfigError(f"--head {head}: the layers have heads 1..{num_heads}")
    layers = range(1, num_layers + 1) if layer is None else [layer]
    if head is None:
        return [(f"layer {i}, {num_heads} heads averaged", weights[i - 1].mean(axis=0)) for i in layers]
    return [(f"layer {i}, head {head}", weights[i - 1, head - 1]) for i in layers]


def plot_attention(attention, path, layer=None, head=None):
    """Write a PNG heat-map of `attention` (an `AttentionMap`): one panel per selected layer, source tokens on the
    x axis, output tokens on the y axis, darker = less attention. Returns `path`.

    Raises:
        ConfigError: layer/head out of range. DataError: the output directory does not exist.
    """
    panels = select_panels(attention.weights, layer, head)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DataError(f"{path}: the directory {directory} does not exist; create it or pick another --output")
    rows, columns = len(attention.output_tokens), len(attention.source_tokens)
    width, height = max(4.0, 0.32 * columns + 1.8), max(2.5, 0.32 * rows + 1.6)
    figure = Figure(figsize=(width * len(panels), height + 0.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (title, matrix) in zip(axes, panels):
        image = axis.imshow(matrix, cmap="viridis", vmin=0.0, vmax=max(float(matrix.max()), 1e-6),
                            aspect="auto", interpolation="nearest")
        axis.set_xticks(range(columns), attention.source_tokens, rotation=90, fontsize=9)
        axis.set_yticks(range(rows), attention.output_tokens, fontsize=9)
        axis.set_xlabel("source")
        axis.set_ylabel("output")
        axis.set_title(title, fontsize=10)
        figure.colorbar(image, ax=axis, shrink=0.8)
    title = f"{attention.source_text}  →  {attention.translation}"
    figure.suptitle(_shorten(title, int(11 * width * len(panels))), fontsize=10)
    figure.savefig(path, format="png", dpi=120)
    return path


def _shorten(text, limit=100):
    return text if len(text) <= limit else text[:limit - 1] + "…"
