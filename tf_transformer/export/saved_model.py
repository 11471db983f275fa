"""The serving SavedModel: tokenize ─► encode ─► decode ─► detokenize in one tf.function per signature.

    path = export_run("runs/g2p_tiny")                    # saved_models/g2p_tiny/<next version>/
    path = export_saved_model(model, source_tokenizer, target_tokenizer, "saved_models/g2p", decoding=recipe.decoding)

Signatures (batch dimension always present; only TensorFlow core and TensorFlow Text ops):
    serving_default: text tf.string [B] -> translation tf.string [B], score float32 [B]   (the recipe's decoding:
                     beam search unless beam_size is 1)
    greedy:          same inputs and outputs, greedy decoding (the fast path)
    translate_ids:   source_ids int32 [B, S] -> target_ids int32 [B, T], score float32 [B]   (recipe's decoding)
    attention:       text tf.string [B] -> the greedy translation, its score, source_ids int32 [B, S], target_ids
                     int32 [B, T], source_tokens / output_tokens tf.string [B, S] / [B, T] (vocabulary entries)
                     and weights float32 [B, layers, heads, T, S]: every decoder layer's cross-attention over the
                     greedy output (what `tf-transformer attention --model` draws); not in an ensemble's export

The tokenizers' vocabularies travel as assets (`assets/`), the lookup tables and tensorflow-text resources are
tracked by the module, so the export loads in a process that imports only `tensorflow` and `tensorflow_text`.
`assets.extra/tf_transformer.json` records the model and decoding settings (for humans and `translate`);
`assets.extra/recipe.yaml`, when the export came from a recipe, lets `evaluate --model` find the corpus;
`assets.extra/tokenizers/{source,target}/` hold the tokenizers as saved (`load_export_parts` rebuilds the Keras
model and both tokenizers from an export, for `tf-transformer tflite --model`).
"""

import dataclasses
import json
import os

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizers' ops before an export loads)

from tf_transformer.config import (
    PAD_ID,
    START_ID,
    UNK_ID,
    DecodingConfig,
    ModelConfig,
    from_dict,
    load_recipe,
    save_recipe,
)
from tf_transformer.decoding import decoding_method, make_decode_fn
from tf_transformer.distribute import float32_copy
from tf_transformer.ensemble import Ensemble, load_ensemble
from tf_transformer.errors import ModelPathError
from tf_transformer.export.versions import atomic_version_dir, check_version_free, latest_version, next_version
from tf_transformer.layers.attention import padding_mask
from tf_transformer.model import Transformer
from tf_transformer.text import load_tokenizer

SIGNATURES = ("serving_default", "greedy", "translate_ids", "attention")  # an ensemble's export: all but attention
METADATA_FILE = os.path.join("assets.extra", "tf_transformer.json")
RECIPE_FILE = os.path.join("assets.extra", "recipe.yaml")
TOKENIZERS_DIR = os.path.join("assets.extra", "tokenizers")


class ServingModule(tf.Module):
    """A trained Transformer with both tokenizers and the serving signatures (see the module docstring).

    Args:
        model: a built `Transformer` (or an `ensemble.Ensemble`, served without the attention signature); one
            trained under mixed precision is served by its float32 copy.
        source_tokenizer, target_tokenizer: `tf_transformer.text.Tokenizer`s of the model's vocabularies.
        decoding: a `DecodingConfig` (beam_size, length_penalty, max_extra_length) for serving_default and
            translate_ids.

    Inputs are never a reason to fail: invalid UTF-8 bytes become U+FFFD, sources longer than the model's
    max_length are cut to max_length tokens, empty strings translate to "" with score 0, a batch of zero
    strings gives zero outputs, and ids outside the source vocabulary become [UNK].
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, decoding=None):
        super().__init__(name="translator")
        decoding = decoding or DecodingConfig()
        if not model.built:
            model.build()
        model = float32_copy(model)
        self.model = model
        # the attention signature draws one model's cross-attention; an ensemble has one per member
        self.signature_names = tuple(name for name in SIGNATURES
                                     if name != "attention" or not isinstance(model, Ensemble))
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self._max_length = int(model.config.max_length)
        self._source_vocab_size = int(model.config.source_vocab_size)
        self.method, self.options = decoding_method(decoding)
        # Held out of the object graph: saving would trace them again, slowly, as functions of their own;
        # they are saved as part of the signatures that call them.
        num_tokens = target_tokenizer.num_tokens  # the ids past the real vocabulary are never chosen
        self._decode = _Untracked(make_decode_fn(model, self.method, num_tokens=num_tokens, **self.options))
        self._decode_greedy = _Untracked(make_decode_fn(model, "greedy", max_extra_length=decoding.max_extra_length,
                                                        num_tokens=num_tokens))
        self._vocabularies = (source_tokenizer.vocabulary(), target_tokenizer.vocabulary())  # lists of str

    def serve(self, text):
        """text tf.string [B] -> {"translation": tf.string [B], "score": float32 [B]} with the recipe's decoding."""
        return self._translate(text, self._decode)

    def serve_greedy(self, text):
        """text tf.string [B] -> {"translation": tf.string [B], "score": float32 [B]} with greedy decoding."""
        return self._translate(text, self._decode_greedy)

    def translate_ids(self, source_ids):
        """source_ids int32 [B, S] (0-padded) -> {"target_ids": int32 [B, T], "score": float32 [B]}.

        target_ids are without [START], up to and including [END], then 0s.
        """
        known = (source_ids >= 0) & (source_ids < self._source_vocab_size)
        target_ids, scores = self._decode(tf.where(known, source_ids, UNK_ID))
        return {"target_ids": target_ids, "score": scores}

    def attention(self, text):
        """text tf.string [B] -> the greedy translation with every decoder layer's cross-attention weights.

        Returns:
            {"translation" tf.string [B], "score" float32 [B], "source_ids" int32 [B, S], "target_ids" int32
             [B, T] (greedy, up to [END], then 0s), "source_tokens" tf.string [B, S], "output_tokens" tf.string
             [B, T], "weights" float32 [B, layers, heads, T, S]}. Row t of the weights is the step that produced
            target_ids[:, t] (one teacher-forced pass over [START] + the output); padding positions are garbage.
        """
        source_ids = self.source_ids(text)
        target_ids, scores = self._decode_greedy(source_ids)
        batch_size, length = tf.shape(target_ids)[0], tf.shape(target_ids)[1]
        target_in = tf.concat([tf.fill([batch_size, 1], START_ID), target_ids], axis=1)[:, :length]  # T, even 0
        memory = self.model.encode(source_ids)
        per_layer = self.model.decode(target_in, memory, padding_mask(source_ids, PAD_ID)).attention_weights
        source_vocabulary, target_vocabulary = (tf.constant(v, tf.string) for v in self._vocabularies)
        return {"translation": self.target_tokenizer.detokenize(target_ids), "score": scores,
                "source_ids": source_ids, "target_ids": target_ids,
                "source_tokens": tf.gather(source_vocabulary, source_ids),
                "output_tokens": tf.gather(target_vocabulary, target_ids),
                "weights": tf.stack([tf.cast(w, tf.float32) for w in per_layer], axis=1)}

    def source_ids(self, text):
        """tf.string [B] -> int32 [B, S] with S <= max_length: what the signatures feed the decoder."""
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        ids = self.source_tokenizer.tokenize(text)[:, :self._max_length]
        return ids.to_tensor(default_value=PAD_ID, shape=[None, None])

    def _translate(self, text, decode):
        target_ids, scores = decode(self.source_ids(text))
        return {"translation": self.target_tokenizer.detokenize(target_ids), "score": scores}

    def signatures(self):
        """{signature name: concrete function} for `tf.saved_model.save`, traced once each.

        They are concrete functions only (no `tf.function` attributes on the module): saving would trace every
        polymorphic function of the object graph again.
        """
        text = tf.TensorSpec([None], tf.string, name="text")
        source_ids = tf.TensorSpec([None, None], tf.int32, name="source_ids")
        functions = {"serving_default": (self.serve, text), "greedy": (self.serve_greedy, text),
                     "translate_ids": (self.translate_ids, source_ids), "attention": (self.attention, text)}
        return {name: tf.function(functions[name][0], input_signature=[functions[name][1]]).get_concrete_function()
                for name in self.signature_names}



class _Untracked:
    """A callable that `tf.saved_model.save` does not see as a child of the module (a plain Python object)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, *args):
        return self.function(*args)


def export_saved_model(model, source_tokenizer, target_tokenizer, model_dir, version=None, decoding=None,
                       metadata=None, recipe=None):
    """Write the serving SavedModel to `<model_dir>/<version>/` atomically and return that path.

    Args:
        model, source_tokenizer, target_tokenizer, decoding: as `ServingModule`.
        model_dir: `saved_models/<name>` (created if needed).
        version: positive int; None = the next free version (1 for a new model).
        metadata: extra JSON-able facts written to assets.extra/tf_transformer.json (e.g. the recipe name).
        recipe: the `Recipe` the model was trained with, copied to assets.extra/recipe.yaml (for `evaluate`).

    Raises:
        ModelPathError: the version exists already (an export never overwrites one).
    """
    version = next_version(model_dir) if version is None else int(version)
    check_version_free(model_dir, version)  # fail before the (slow) tracing
    decoding = decoding or DecodingConfig()
    module = ServingModule(model, source_tokenizer, target_tokenizer, decoding)
    with atomic_version_dir(model_dir, version) as temporary:
        tf.saved_model.save(module, temporary, signatures=module.signatures(),
                            options=tf.saved_model.SaveOptions(save_debug_info=False))
        os.makedirs(os.path.join(temporary, "assets.extra"), exist_ok=True)
        members = model.members if isinstance(model, Ensemble) else None
        facts = {**(metadata or {}), "version": version, "signatures": list(module.signature_names),
                 "decoding": dataclasses.asdict(decoding), "model": model.config.to_dict(),
                 **({"ensemble": [member.config.to_dict() for member in members]} if members else {}),
                 "source_tokenizer": source_tokenizer.kind, "target_tokenizer": target_tokenizer.kind}
        with open(os.path.join(temporary, METADATA_FILE), "w", encoding="utf-8") as file:
            json.dump(facts, file, indent=2)
            file.write("\n")
        if recipe is not None:
            save_recipe(recipe, os.path.join(temporary, RECIPE_FILE))
        source_tokenizer.save(os.path.join(temporary, TOKENIZERS_DIR, "source"))
        target_tokenizer.save(os.path.join(temporary, TOKENIZERS_DIR, "target"))
    return os.path.join(str(model_dir), str(version))


@dataclasses.dataclass
class ExportParts:
    """What `load_export_parts` rebuilds from an export: the Keras model, both tokenizers, the export's
    `DecodingConfig`, its model name and its recipe (None when the export carries none)."""

    model: object
    source_tokenizer: object
    target_tokenizer: object
    decoding: DecodingConfig
    name: str
    recipe: object = None


def load_export_parts(model_path):
    """`ExportParts` of an export (saved_models/NAME or one version): the Keras `Transformer` from the recorded
    config with the SavedModel's weights, the tokenizers from assets.extra/tokenizers/.

    Raises:
        ModelPathError: not an export, one written before exports carried their tokenizers, or whose weights do
            not fit its recorded config (re-export it).
    """
    path = latest_version(model_path)
    tokenizers = os.path.join(path, TOKENIZERS_DIR)
    facts = export_facts(path)
    if "model" not in facts or not os.path.isdir(tokenizers):
        raise ModelPathError(f"{path}: this export lacks {METADATA_FILE} or {TOKENIZERS_DIR}/ (older exports do); "
                             "export it again with `tf-transformer export`, or pass --run-dir")
    refuse_ensemble(path, "a .tflite holds one model")
    model = Transformer(from_dict(ModelConfig, facts["model"], where=METADATA_FILE))
    model.build()
    # The signatures capture every model variable under its Keras path ("transformer/encoder/...:0"); the first
    # component is the model's name, which Keras numbers per process, so it is left out of the match.
    loaded = tf.saved_model.load(path)  # held: the signature's variables live as long as the loaded object
    captured = loaded.signatures["greedy"].variables
    saved = {variable.name.split("/", 1)[-1].rsplit(":", 1)[0]: variable for variable in captured}
    for variable in model.variables:
        key = variable.path.split("/", 1)[-1]
        if "seed_generator" in key:  # dropout's random state: no signature reads it
            continue
        if key not in saved or tuple(saved[key].shape) != tuple(variable.shape):
            raise ModelPathError(f"{path}: the export has no variable {key!r} of shape {tuple(variable.shape)} "
                                 "for the recorded model config; export it again with `tf-transformer export`")
        variable.assign(saved[key])
    decoding = from_dict(DecodingConfig, facts.get("decoding", {}), where=METADATA_FILE)
    name = facts.get("name") or os.path.basename(os.path.dirname(os.path.normpath(path)))
    recipe_path = os.path.join(path, RECIPE_FILE)
    return ExportParts(model, load_tokenizer(os.path.join(tokenizers, "source")),
                       load_tokenizer(os.path.join(tokenizers, "target")), decoding, name,
                       load_recipe(recipe_path) if os.path.isfile(recipe_path) else None)


def export_facts(path):
    """The dict of an export version's assets.extra/tf_transformer.json; {} if it is missing or unreadable."""
    try:
        with open(os.path.join(path, METADATA_FILE), encoding="utf-8") as file:
            facts = json.load(file)
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def refuse_ensemble(path, why):
    """Raise `ModelPathError` if the export version at `path` is an ensemble's, for tools that need one model
    (`why` says which, e.g. "a .tflite holds one model")."""
    members = export_facts(path).get("ensemble")
    if members:
        raise ModelPathError(f"{path}: this export is an ensemble of {len(members)} runs, and {why}; pass one of its "
                             "runs as --run-dir DIR")


def export_run(run_dir, name=None, version=None, directory=None):
    """Export a run directory's model (see `run_dir.load_run`) to `<directory>/<name>/<version>/`.

    Args:
        run_dir: a `tf-transformer train` run directory, or a list of them: one SavedModel decoding them as an
            `ensemble.Ensemble` (the first run's recipe and decoding; no attention signature).
        name: model name; default recipe.export.name or recipe.name.
        version: default the next free version.
        directory: default recipe.export.directory ("saved_models").

    Returns:
        the path of the written version directory.
    """
    run = load_ensemble([run_dir] if isinstance(run_dir, (str, os.PathLike)) else run_dir)
    return export_loaded(run.recipe, run.model, run.source_tokenizer, run.target_tokenizer, name, version,
                         directory)


def export_loaded(recipe, model, source_tokenizer, target_tokenizer, name=None, version=None, directory=None):
    """Export an in-memory model of `recipe` (what training's last step calls); returns the version path."""
    name = name or recipe.export.name or recipe.name
    model_dir = os.path.join(directory or recipe.export.directory, name)
    return export_saved_model(model, source_tokenizer, target_tokenizer, model_dir, version, recipe.decoding,
                              metadata={"name": name, "recipe": recipe.name}, recipe=recipe)
