"""Configuration dataclasses, presets and validation.

`ModelConfig` describes a Transformer; `ModelConfig.preset("base")` gives the paper's base model (§6.2, Table 3).
`from_dict` builds any of these dataclasses from plain data (a YAML recipe section) and raises `ConfigError`
naming the field, the expected type and, for an unknown key, the valid keys with the closest match first.
"""

import dataclasses
import difflib
import typing

import yaml

from tf_transformer.errors import ConfigError

PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
DEFAULT_MAX_EXTRA_LENGTH = 50  # decode at most source length + this many tokens unless told otherwise
RESERVED_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]")
DECAYS = ("noam", "cosine")  # training.decay (tf_transformer.schedules.learning_rate_schedule)
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")  # training.strategy (tf_transformer.distribute)
CORPORA = ("tsv", "bitext", "cmudict", "ding")  # data.corpus (tf_transformer.data.corpora)
DIRECTIONS = ("de-en", "en-de")  # data.direction of the ding corpus
# task -> its dev metrics; the first picks the best checkpoint and drives early stopping unless training.best_metric
# names the other (the task: data.task, or by default "g2p" for the cmudict corpus, else "translation"; Recipe.task)
TASK_METRICS = {"g2p": ("wer", "per"), "translation": ("bleu", "chrf")}
TOKENIZER_KINDS = ("wordpiece", "sentencepiece", "char", "whitespace")  # <side>_tokenizer.kind (tf_transformer.text)
# training.mixed_precision value -> the Keras dtype policy it sets ("auto": the machine's fast one, chosen when
# training starts by tf_transformer.distribute.auto_policy)
MIXED_PRECISION = {None: "float32", "none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16",
                   "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16", "auto": "auto"}


@dataclasses.dataclass
class ModelConfig:
    """Shape and regularisation of a Transformer.

    Attributes:
        source_vocab_size, target_vocab_size: vocabulary sizes, reserved ids included.
        d_model: width of every sublayer output (512 in the base model).
        num_layers: layers in the encoder stack, and in the decoder stack unless num_decoder_layers is set (N = 6).
        num_decoder_layers: layers in the decoder stack; None (the default) means num_layers, as in the paper.
            A deeper encoder with a shallower decoder (e.g. 5 + 1) trains at about the same cost per layer and
            decodes faster, since only decoder layers run once per generated token (Kasai et al. 2021).
        num_heads: attention heads h; d_model must be divisible by it (d_k = d_model / h).
        d_ff: hidden width of the feed-forward blocks (2048).
        dropout: residual and embedding dropout (P_drop = 0.1).
        attention_dropout: dropout on attention weights (0: the paper has none).
        ffn_dropout: dropout on the feed-forward hidden activations (0: the paper has none; Tensor2Tensor's
            relu_dropout). It acts on d_ff-wide tensors, so it costs d_ff / d_model times a residual dropout.
        max_length: the longest source or target sequence the model accepts (positions and decoding cache).
        activation: "relu" (paper) or "gelu".
        norm_position: "post" (LayerNorm after the residual add, as the paper) or "pre".
        positional: "sinusoidal" (paper) or "learned".
        share_embeddings: one embedding matrix for source and target (needs equal vocabulary sizes).
        tie_output: the softmax uses the target embedding matrix (paper §3.4).
        layer_norm_epsilon: epsilon of every LayerNormalization.
        pack_tokens: in `model(...)` calls (training, evaluation), run the position-wise layers on the real tokens
            only, gathered into [N, d_model] (tf_transformer/layers/packing.py); padding then costs no matmul work.
            Outputs are the same; logits at padding positions are 0. Decoding never packs.
    """

    source_vocab_size: int = 8000
    target_vocab_size: int = 8000
    d_model: int = 512
    num_layers: int = 6
    num_decoder_layers: typing.Optional[int] = None
    num_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.0
    ffn_dropout: float = 0.0
    max_length: int = 256
    activation: str = "relu"
    norm_position: str = "post"
    positional: str = "sinusoidal"
    share_embeddings: bool = False
    tie_output: bool = True
    layer_norm_epsilon: float = 1e-6
    pack_tokens: bool = True

    PRESETS: typing.ClassVar[dict] = {
        "tiny": dict(d_model=64, num_layers=2, num_heads=4, d_ff=256, dropout=0.1, max_length=64),
        "base": dict(d_model=512, num_layers=6, num_heads=8, d_ff=2048, dropout=0.1),
        "big": dict(d_model=1024, num_layers=6, num_heads=16, d_ff=4096, dropout=0.3),
    }

    @classmethod
    def preset(cls, name, **overrides):
        """The named preset ("tiny", "base", "big") with `overrides` applied, validated."""
        if name not in cls.PRESETS:
            raise ConfigError(f"model preset {name!r} is unknown; choose one of {', '.join(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raise `ConfigError` naming the first inconsistent field and how to fix it."""
        for name in ("source_vocab_size", "target_vocab_size", "d_model", "num_layers", "num_heads", "d_ff",
                     "max_length"):
            value = getattr(self, name)
            if not _is_positive_int(value):
                raise ConfigError(f"model.{name}: expected a positive integer, got {value!r}")
        if self.num_decoder_layers is not None and not _is_positive_int(self.num_decoder_layers):
            raise ConfigError(f"model.num_decoder_layers: expected a positive integer or null (= num_layers), "
                              f"got {self.num_decoder_layers!r}")
        if self.source_vocab_size <= len(RESERVED_TOKENS) or self.target_vocab_size <= len(RESERVED_TOKENS):
            raise ConfigError("model vocabulary sizes must exceed the 4 reserved ids ([PAD] [UNK] [START] [END])")
        if self.d_model % 2:
            raise ConfigError(f"model.d_model={self.d_model} must be even (sin/cos pairs of the positional encoding)")
        if self.d_model % self.num_heads:
            raise ConfigError(f"model.d_model={self.d_model} is not divisible by model.num_heads={self.num_heads}; "
                              f"choose num_heads among {_divisors(self.d_model)}")
        for name in ("dropout", "attention_dropout", "ffn_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"model.{name}: expected a rate in [0, 1), got {value!r}")
        check_choice("model.activation", self.activation, ("relu", "gelu"))
        check_choice("model.norm_position", self.norm_position, ("post", "pre"))
        check_choice("model.positional", self.positional, ("sinusoidal", "learned"))
        if self.share_embeddings and self.source_vocab_size != self.target_vocab_size:
            raise ConfigError(f"model.share_embeddings needs equal vocabularies, got source "
                              f"{self.source_vocab_size} and target {self.target_vocab_size}; "
                              "build one shared vocabulary or set share_embeddings: false")

    @property
    def decoder_layers(self):
        """Layers in the decoder stack: num_decoder_layers, else num_layers."""
        return self.num_layers if self.num_decoder_layers is None else self.num_decoder_layers

    @property
    def head_size(self):
        """d_k = d_v = d_model / num_heads."""
        return self.d_model // self.num_heads

    def to_dict(self):
        return dataclasses.asdict(self)


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _divisors(n):
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0]


def check_choice(field, value, choices):
    """Raise `ConfigError` unless `value` is one of `choices`, naming the dotted `field` and the choices."""
    if value not in choices:
        raise ConfigError(f"{field}: expected one of {', '.join(map(repr, choices))}, got {value!r}")


def from_dict(cls, data, where="config"):
    """Build dataclass `cls` from the mapping `data`, checking keys and types.

    Args:
        cls: a dataclass type (fields may themselves be dataclasses: nested mappings are built recursively).
        data: a mapping of field name to value (e.g. a YAML section); None means all defaults.
        where: the dotted place of `data` in the recipe, used in error messages ("recipe.yaml: model").

    Raises:
        ConfigError: an unknown key (valid keys listed, closest match first) or a value of the wrong type.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(_closest_first(key, fields))}")
        values[key] = _coerce(hints[key], value, f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from None


def _closest_first(key, names):
    close = difflib.get_close_matches(str(key), list(names), n=len(names), cutoff=0.0)
    return close + [name for name in names if name not in close]


def _coerce(hint, value, where):
    """Check `value` against the type hint `hint` (int, float, str, bool, Optional, list, dataclass)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(option for option in options if option is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list ([a, b] in YAML and in --set), got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (typing.Any,)
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is typing.Any:
        return value
    if dict in (hint, origin):  # a free-form section (the recipe's `model`): empty (None) is an empty mapping
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(value).__name__}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool) or hint is int and (isinstance(value, bool)
                                                                         or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    if hint in (float, str) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


# ---- the training recipe (training/configs/*.yaml) -------------------------------------------------------------


@dataclasses.dataclass
class TokenizerConfig:
    """How one side's text becomes ids (see `tf_transformer.text`).

    Attributes:
        kind: "wordpiece", "sentencepiece", "char" or "whitespace".
        vocab_size: target size for learned vocabularies (wordpiece, sentencepiece); None keeps every token seen.
        lowercase: lower-case text before tokenizing.
        round_to_multiple: round the vocabulary size up to a multiple of this (8 suits tensor cores); 1 = off.
        min_frequency: drop tokens seen fewer times when building char/whitespace vocabularies.
    """

    kind: str = "wordpiece"
    vocab_size: typing.Optional[int] = 8000
    lowercase: bool = False
    round_to_multiple: int = 8
    min_frequency: int = 1

    def validate(self, where="tokenizer"):
        """Raise `ConfigError` naming the first bad field as `<where>.<field>` ("source_tokenizer.kind")."""
        check_choice(f"{where}.kind", self.kind, TOKENIZER_KINDS)
        if self.vocab_size is None and self.kind in ("wordpiece", "sentencepiece"):
            raise ConfigError(f"{where}.vocab_size: {self.kind} needs a vocabulary size (e.g. 8000), got None")
        if self.vocab_size is not None and self.vocab_size <= len(RESERVED_TOKENS):
            raise ConfigError(f"{where}.vocab_size: must exceed the {len(RESERVED_TOKENS)} reserved ids, "
                              f"got {self.vocab_size}")
        if self.round_to_multiple < 1:
            raise ConfigError(f"{where}.round_to_multiple: expected 1 (off) or more, got {self.round_to_multiple}")
        if self.min_frequency < 1:
            raise ConfigError(f"{where}.min_frequency: expected 1 or more, got {self.min_frequency}")


@dataclasses.dataclass
class DataConfig:
    """Which corpus to read and how to batch it (see `tf_transformer.data`).

    Attributes:
        corpus: "cmudict", "ding", "tsv" or "bitext".
        path: the corpus file (tsv, ding); for bitext, "source_file,target_file"; None for the default location.
        direction: for ding, "de-en" or "en-de".
        keep_stress: for cmudict, keep the stress digits of the phonemes.
        skip_malformed: skip (and count) malformed lines instead of failing.
        max_source_length, max_target_length: tokens (targets with [START]/[END]); longer pairs are dropped.
        truncate: cut longer pairs to the maximum lengths instead of dropping them.
        tokens_per_batch: per-replica token budget of a batch (source + target tokens, padding included).
        shuffle_buffer: pairs bucketed together (a pool); every epoch first shuffles all pairs, seeded.
        limit: read at most this many training pairs (None = all).
        seed: shuffling seed.
        task: how dev and test outputs are scored: "g2p" (word and phoneme error rates; a source is right if its
            output matches any of its references) or "translation" (BLEU, chrF). None = "g2p" for cmudict, else
            "translation"; set "g2p" for a pronunciation lexicon of your own in a tsv file.
    """

    corpus: str = "tsv"
    path: typing.Optional[str] = None
    direction: str = "de-en"
    keep_stress: bool = False
    skip_malformed: bool = False
    max_source_length: int = 64
    max_target_length: int = 64
    truncate: bool = False
    tokens_per_batch: int = 4096
    shuffle_buffer: int = 100_000
    limit: typing.Optional[int] = None
    seed: int = 1234
    task: typing.Optional[str] = None

    def __post_init__(self):
        check_choice("data.corpus", self.corpus, CORPORA)
        check_choice("data.direction", self.direction, DIRECTIONS)
        if self.task is not None:
            check_choice("data.task", self.task, tuple(TASK_METRICS))


@dataclasses.dataclass
class TrainingConfig:
    """How `model.fit` runs (see `tf_transformer.trainer`).

    Attributes:
        epochs: passes over the training split.
        steps_per_epoch: cap on steps per epoch (None = the whole split).
        warmup_steps, learning_rate_scale: the warm-up (linear, to the peak learning_rate_scale · d_model^-0.5 ·
            warmup_steps^-0.5) and multiplier of the Noam schedule.
        decay: after the warm-up, "noam" (the paper: the inverse square root of the step) or "cosine" (half a
            cosine down to 0 at the last step of `epochs`: better when the run's length is fixed in advance;
            changing `epochs` on resume reshapes the rest of the curve).
        label_smoothing: ε of the loss.
        clipnorm: clip each gradient to this norm (None = off).
        strategy: "auto", "default", "mirrored", "multi_worker" or "tpu".
        mixed_precision: "none" (or null: float32), "float16" (with dynamic loss scaling), "bfloat16" or "auto"
            (the fast one of this machine: bfloat16 on TPUs, Ampere+ GPUs and CPUs with AMX or AVX512_BF16,
            float16 on older GPUs with tensor cores, float32 elsewhere): the compute dtype of training; weights,
            logits and the loss stay float32. Keras' names "mixed_float16" / "mixed_bfloat16" are accepted too.
            Exports and inference always run in float32.
        jit_compile: compile the train step with XLA.
        steps_per_execution: train steps per tf.function call.
        backup_every_steps: how often BackupAndRestore saves (a killed run resumes from there).
        keep_checkpoints: per-epoch checkpoints (checkpoints/epoch-NNN.weights.h5) to keep, the newest; 0 writes
            none. The best epoch by the dev metric (best.weights.h5) and the resume backup are kept regardless.
            export, evaluate and translate read model.keras (written when training ends), else the best
            checkpoint, else the newest epoch, else the backup: 0 loses nothing they need.
        early_stopping_patience: epochs without dev improvement before stopping (None = off).
        max_minutes: a wall-clock budget: training ends after the last epoch that, at the mean epoch time so far,
            ends inside this many minutes of epochs (None = off; `epochs` stays the upper bound). With the
            Noam decay the run is then the same as one with that many `epochs`; a cosine decay would be cut
            short, so the two are refused together. Not with the multi_worker strategy (its workers must stop
            at the same epoch).
        best_metric: the dev metric that picks the best checkpoint (best.weights.h5, then model.keras) and drives
            early stopping: "wer" or "per" for G2P, "bleu" or "chrf" for translation; None = the task's first
            (wer, bleu). chrF suits translations of one to three words, where BLEU's 4-grams are mostly empty.
        evaluate_every_epochs: decode the dev split every K epochs (0 = off).
        evaluate_max_examples: dev examples decoded for the metric, evenly spaced over the split (so they span
            it: the CMU dictionary is alphabetical).
        seed: weights and dropout seed.
        teachers: trained run directories whose mean next-token distributions become soft targets
            (`tf_transformer.distillation`); they must share this run's vocabularies. Empty = no distillation.
        distillation_weight: α, the teachers' share of the training loss (the reference keeps 1 - α).
        distillation_top_k: ids of the teachers' distribution kept per target position.
    """

    epochs: int = 10
    steps_per_epoch: typing.Optional[int] = None
    warmup_steps: int = 4000
    learning_rate_scale: float = 1.0
    decay: str = "noam"
    label_smoothing: float = 0.1
    clipnorm: typing.Optional[float] = None
    strategy: str = "auto"
    mixed_precision: typing.Optional[str] = None
    jit_compile: bool = False
    steps_per_execution: int = 1
    backup_every_steps: int = 200
    keep_checkpoints: int = 3
    early_stopping_patience: typing.Optional[int] = None
    max_minutes: typing.Optional[float] = None
    best_metric: typing.Optional[str] = None
    evaluate_every_epochs: int = 1
    evaluate_max_examples: int = 500
    seed: int = 1234
    teachers: list[str] = dataclasses.field(default_factory=list)
    distillation_weight: float = 0.5
    distillation_top_k: int = 8

    def __post_init__(self):
        check_choice("training.decay", self.decay, DECAYS)
        check_choice("training.strategy", self.strategy, STRATEGIES)
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"training.mixed_precision: expected none, float16, bfloat16 or auto, got "
                              f"{self.mixed_precision!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"training.max_minutes: expected minutes > 0 or null (no budget), got "
                              f"{self.max_minutes}")
        if self.max_minutes is not None and self.decay == "cosine":
            raise ConfigError("training.max_minutes: a time budget would cut decay: cosine short of its end at "
                              "training.epochs; use decay: noam, or drop the budget (--set training.max_minutes=null) "
                              "and set training.epochs")
        if self.keep_checkpoints < 0:
            raise ConfigError(f"training.keep_checkpoints: expected 0 (no per-epoch checkpoints) or more, got "
                              f"{self.keep_checkpoints}")
        if not 0.0 <= self.distillation_weight <= 1.0:
            raise ConfigError(f"training.distillation_weight: expected a share from 0 to 1, got "
                              f"{self.distillation_weight}")
        if self.distillation_top_k < 1:
            raise ConfigError(f"training.distillation_top_k: expected 1 or more ids, got {self.distillation_top_k}")


@dataclasses.dataclass
class DecodingConfig:
    """How the exported model and `translate` decode by default (see `tf_transformer.decoding`).

    Attributes:
        beam_size: 1 = greedy.
        length_penalty: α of ((5 + L) / 6)^α.
        max_extra_length: decode at most source length + this many tokens (capped by the model's max_length).
        jit_compile: compile in-process decoding with XLA (`translate --run-dir`, `evaluate`, the dev evaluation
            in training). Each decoding step runs faster than the graph, but every batch/length bucket first
            compiles, which short outputs never earn back (evaluating the CMU test words is slower with XLA than
            with the graph; bench/decode.py and the README have the numbers). Worth it for long outputs, big
            models and GPUs. Exports always hold the plain graph (TF Serving and TFLite do not compile XLA).
    """

    beam_size: int = 4
    length_penalty: float = 0.6
    max_extra_length: int = DEFAULT_MAX_EXTRA_LENGTH
    jit_compile: bool = False


@dataclasses.dataclass
class ExportConfig:
    """Where training's final export goes: `<directory>/<name>/<version>/`."""

    directory: str = "saved_models"
    name: typing.Optional[str] = None


@dataclasses.dataclass
class Recipe:
    """A whole training recipe: one YAML file in training/configs/.

    `model` is a mapping: `preset` ("tiny", "base", "big") plus any `ModelConfig` field to override; the
    vocabulary sizes come from the built tokenizers (see `model_config`).
    """

    name: str = "model"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    source_tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    target_tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    shared_vocabulary: bool = False
    model: dict = dataclasses.field(default_factory=lambda: {"preset": "base"})
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    def __post_init__(self):
        self.source_tokenizer.validate("source_tokenizer")
        self.target_tokenizer.validate("target_tokenizer")
        if self.training.best_metric is not None:
            check_choice(f"training.best_metric (a {self.task} recipe)", self.training.best_metric,
                         TASK_METRICS[self.task])

    @property
    def task(self):
        """How outputs are scored: data.task, or by default "g2p" for the CMU dictionary (WER/PER), else
        "translation" (BLEU/chrF)."""
        return self.data.task or ("g2p" if self.data.corpus == "cmudict" else "translation")

    @property
    def best_metric(self):
        """The dev metric that picks the best checkpoint and drives early stopping ("wer", "bleu", ...)."""
        return self.training.best_metric or TASK_METRICS[self.task][0]

    def model_config(self, source_vocab_size, target_vocab_size, where="recipe"):
        """The `ModelConfig` of this recipe's `model` section for the given vocabulary sizes."""
        section = dict(self.model)
        preset = section.pop("preset", "base")
        overrides = from_dict(_ModelOverrides, section, f"{where}: model")
        values = {k: v for k, v in dataclasses.asdict(overrides).items() if v is not None}
        return ModelConfig.preset(preset, source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size,
                                  **values)

    def to_dict(self):
        return dataclasses.asdict(self)


_ModelOverrides = dataclasses.make_dataclass(
    "_ModelOverrides",
    [(f.name, typing.Optional[f.type], None)
     for f in dataclasses.fields(ModelConfig) if f.name not in ("source_vocab_size", "target_vocab_size")])


def load_recipe(path, overrides=()):
    """Read a YAML recipe and apply `key.sub=value` overrides (values parsed as YAML).

    Raises:
        ConfigError: missing file, invalid YAML, unknown key or wrong type — naming the file and field.
    """
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: recipe file not found (see training/configs/ for the bundled ones)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, training, ...), got "
                          f"{type(data).__name__}")
    for override in overrides:
        _set(data, override, path)
    try:
        recipe = from_dict(Recipe, data, str(path))
        recipe.model_config(1000, 1000, where=str(path))  # the shape checks need no vocabulary
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    return recipe


def _set(data, override, path):
    """Apply one `--set key.sub=value` (value parsed as YAML) to the recipe mapping `data` read from `path`.

    A missing or empty section (`training:` alone is None in YAML) becomes a mapping; a key that holds a value
    cannot take sub-keys.
    """
    key, sep, value = override.partition("=")
    if not sep:
        raise ConfigError(f"--set {override!r}: expected key=value, e.g. training.epochs=3")
    *parents, leaf = key.split(".")
    node = data
    for depth, parent in enumerate(parents):
        if node.get(parent) is None:
            node[parent] = {}
        node = node[parent]
        if not isinstance(node, dict):
            field = ".".join(parents[:depth + 1])
            raise ConfigError(f"--set {override!r}: {path}: {field} is {node!r}, not a section with keys; "
                              f"set it with --set {field}=VALUE")
    node[leaf] = yaml.safe_load(value)


def save_recipe(recipe, path):
    """Write the resolved recipe as YAML (the run directory keeps it)."""
    with open(path, "w", encoding="utf-8") as file:
        yaml.safe_dump(recipe.to_dict(), file, sort_keys=False)
