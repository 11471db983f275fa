"""A translator from what a user has: a run directory, a SavedModel export, or a .tflite file.

    from tf_transformer.translators import DecodingRequest, Source, load_translator
    translator = load_translator(Source(model="saved_models/g2p_tiny"), DecodingRequest(beam_size=1))
    translator.translate_batch(["hello"])                   # [("HH AH0 L OW1", -0.52)]

Every translator has `translate_batch(list of str) -> list of results`, `n_best` and `jit_compile`, so
`translation.translate_texts` batches any of them. A run directory decodes however it is asked (greedy, beam,
sampling, XLA or not); an export runs the decoding it was exported with (`serving_default`) or greedy decoding
(its `greedy` signature); a .tflite runs the one decoding it was converted with. Asking a source with fixed
decoding for anything else raises one `ConfigError`, worded the same for every source and option
(`refuse_unhonoured`):

    --n-best is not possible with --model saved_models/g2p_tiny: it decodes only as exported (beam size 4 by
    default, greedy with --beam-size 1); use --run-dir DIR for other options
"""

import dataclasses
import os

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizers' ops before an export loads)

from tf_transformer.config import Recipe, from_dict, load_recipe
from tf_transformer.decoding import decoding_method
from tf_transformer.ensemble import load_ensemble
from tf_transformer.errors import ConfigError, ModelPathError
from tf_transformer.export import latest_version
from tf_transformer.export.litert import LiteRTTranslator
from tf_transformer.export.saved_model import RECIPE_FILE, export_facts, refuse_ensemble
from tf_transformer.run_dir import RunPaths
from tf_transformer.translation import Translator

__all__ = ["Source", "DecodingRequest", "load_translator", "evaluation_translators", "refuse_unhonoured",
           "decoding_for", "decoding_rows", "ExportTranslator", "LiteRTTranslator", "load_export",
           "load_attention_export", "export_beam_size"]

SAMPLING_OPTIONS = ("temperature", "top_k", "top_p", "seed")
_FLAGS = {"run_dir": "--run-dir", "model": "--model", "tflite": "--tflite"}


@dataclasses.dataclass(frozen=True)
class Source:
    """Exactly one of: a run directory, an export (saved_models/NAME, i.e. its latest version, or one version
    directory), or a .tflite file. The fields are named for the CLI's --run-dir, --model and --tflite; `ensemble`
    holds the further run directories of a repeated --run-dir, decoded with `run_dir` as one model
    (`ensemble.Ensemble`)."""

    run_dir: str | None = None
    model: str | None = None
    tflite: str | None = None
    ensemble: tuple = ()

    def __post_init__(self):
        given = [name for name in _FLAGS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConfigError(f"give exactly one of --run-dir DIR, --model saved_models/NAME or --tflite FILE "
                              f"(got {' and '.join(_FLAGS[name] for name in given) or 'none'})")
        if self.ensemble and self.run_dir is None:
            raise ConfigError(f"only run directories ensemble: give every model as --run-dir DIR, not {self}")

    @property
    def run_dirs(self):
        """The run directories decoded as one model: (run_dir, *ensemble); () for an export or a .tflite."""
        return () if self.run_dir is None else (str(self.run_dir), *map(str, self.ensemble))

    @property
    def kind(self):
        """"run_dir", "model" or "tflite"."""
        return next(name for name in _FLAGS if getattr(self, name) is not None)

    @property
    def path(self):
        return str(getattr(self, self.kind))

    def __str__(self):
        return " ".join(f"{_FLAGS[self.kind]} {path}" for path in self.run_dirs or [self.path])

    @property
    def label(self):
        """The source's path, or its run directories joined by " + " for an ensemble (a table title)."""
        return " + ".join(self.run_dirs) or self.path


@dataclasses.dataclass(frozen=True)
class DecodingRequest:
    """The decoding a user asked for; a field left at its default means "not asked": the source's own decoding.

    Args:
        beam_size: 1 = greedy; None = the recipe's (a run directory) or the exported one.
        n_best: hypotheses per input, best first (beam search).
        length_penalty, max_extra_length: beam search α of ((5+L)/6)^α; decode at most source length + N tokens.
        sample: sample instead of searching, with temperature, top_k, top_p, seed.
        jit_compile: compile the decoding with XLA (a run directory only); None = the recipe's
            decoding.jit_compile.

    Raises:
        ConfigError: beam_size or n_best below 1.
    """

    beam_size: int | None = None
    n_best: int = 1
    length_penalty: float | None = None
    max_extra_length: int | None = None
    sample: bool = False
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    jit_compile: bool | None = None

    def __post_init__(self):
        if self.beam_size is not None and self.beam_size < 1:
            raise ConfigError(f"--beam-size must be >= 1 (1 = greedy), got {self.beam_size}")
        if self.n_best < 1:
            raise ConfigError(f"--n-best must be >= 1, got {self.n_best}")

    def options_beyond(self, beams):
        """The options asked for that fixed decoding cannot honour, as typed on the command line, most important
        first; `beams` are the beam_size values it can (None: not asked)."""
        given = [] if self.beam_size in beams else [f"--beam-size {self.beam_size}"]
        given += ["--n-best"] * (self.n_best != 1)
        given += [] if self.jit_compile is None else ["--xla" if self.jit_compile else "--no-xla"]
        given += ["--sample"] * self.sample
        return given + [f"--{name.replace('_', '-')}" for name in ("length_penalty", "max_extra_length",
                                                                   *SAMPLING_OPTIONS)
                        if getattr(self, name) is not None]


def refuse_unhonoured(request, source, beams, decodes):
    """Raise the one `ConfigError` for the first option of `request` that a `source` with fixed decoding cannot
    honour; return None when it can honour them all.

    Args:
        request: a `DecodingRequest`.
        source: the `Source` (an export or a .tflite), named in the message.
        beams: the beam_size values the source can decode with (None = not asked).
        decodes: how it decodes, in words ("as exported (beam size 4 by default, ...)").
    """
    options = request.options_beyond(beams)
    if options:
        raise ConfigError(f"{options[0]} is not possible with {source}: it decodes only {decodes}; use --run-dir DIR "
                          "for other options")


def load_translator(source, request=DecodingRequest()):
    """One translator of `source` that decodes as `request` asks.

    A run directory: a `translation.Translator` with the request's method and options, the recipe's decoding for
    what it leaves out (several run directories: of their `ensemble.Ensemble`, with the first one's recipe).
    An export: an `ExportTranslator` of `serving_default`, or of `greedy` with beam_size 1.
    A .tflite: a `LiteRTTranslator`.

    Raises:
        ConfigError: an option the source cannot honour (`refuse_unhonoured`), or contradictory options
            (`decoding_for`); both before a model loads where the source allows.
        ModelPathError: the source is missing or incomplete.
    """
    if source.kind == "tflite":
        translator = _text_tflite(source.path)
        refuse_unhonoured(request, source, (None, translator.beam_size), _converted(translator.beam_size))
        return translator
    if source.kind == "model":
        path = latest_version(source.path)
        beam = export_beam_size(path)
        refuse_unhonoured(request, source, (None, 1, beam), _exported(beam))
        return ExportTranslator(path, "greedy" if request.beam_size == 1 else "serving_default")
    recipe = RunPaths(source.path).recipe
    if os.path.isfile(recipe):
        decoding_for(request, load_recipe(recipe).decoding)  # option mistakes fail before the model loads
    run = load_ensemble(source.run_dirs)
    method, options = decoding_for(request, run.recipe.decoding)
    return Translator(run.model, run.source_tokenizer, run.target_tokenizer, method,
                      _jit_compile(request, run.recipe), **options)


def evaluation_translators(source, beam_size=None, jit_compile=None):
    """(recipe, [(label, method, options, translator)]): the decodings `tf-transformer evaluate` compares.

    A run directory (or an ensemble of them, as in `load_translator`): greedy, then beam search with `beam_size`
    (`decoding_rows`). An export: its `greedy`
    signature, then its `serving_default` when that is a beam search (unless beam_size is 1). A .tflite: the one
    decoding it was converted with, labelled with its quantization. The recipe (to find the corpus) is the run
    directory's, or the one the export (assets.extra/recipe.yaml) or the file's metadata carries.

    Raises:
        ConfigError: beam_size below 1, or a beam_size / jit_compile the source cannot honour.
        ModelPathError: the source is missing, or the export or file carries no recipe.
    """
    request = DecodingRequest(beam_size=beam_size, jit_compile=jit_compile)
    if source.kind == "tflite":
        return _tflite_rows(source, request)
    if source.kind == "model":
        return _export_rows(source, request)
    run = load_ensemble(source.run_dirs)
    jit = _jit_compile(request, run.recipe)
    return run.recipe, [(label, method, options, Translator(run.model, run.source_tokenizer, run.target_tokenizer,
                                                            method, jit, **options))
                        for label, method, options in decoding_rows(run.recipe.decoding, beam_size)]


def _export_rows(source, request):
    path = latest_version(source.path)
    recipe_file = os.path.join(path, RECIPE_FILE)
    if not os.path.isfile(recipe_file):
        raise ModelPathError(f"{path}: the export has no {RECIPE_FILE} to find its corpus (older exports); export "
                             "it again with `tf-transformer export --run-dir DIR`, or evaluate --run-dir DIR")
    recipe = load_recipe(recipe_file)
    beam = export_beam_size(path) or recipe.decoding.beam_size
    refuse_unhonoured(request, source, (None, 1, beam), _exported(beam))
    rows = [("greedy", "greedy", {}, ExportTranslator(path, "greedy"))]
    if beam > 1 and request.beam_size != 1:
        rows.append((f"beam {beam}", "beam", {"beam_size": beam}, ExportTranslator(path, "serving_default")))
    return recipe, rows


def _tflite_rows(source, request):
    translator = _text_tflite(source.path)
    if not translator.facts.get("recipe"):
        raise ModelPathError(f"{source.path}: the file carries no recipe to find its corpus; convert it with "
                             "`tf-transformer tflite`, or evaluate --run-dir DIR")
    beam = translator.beam_size
    refuse_unhonoured(request, source, (None, beam), _converted(beam))
    label = (f"beam {beam}" if beam > 1 else "greedy") + f" (tflite, {translator.facts.get('quantize', 'none')})"
    method, options = ("beam", {"beam_size": beam}) if beam > 1 else ("greedy", {})
    recipe = from_dict(Recipe, translator.facts["recipe"], where=f"{source.path}: recipe")
    return recipe, [(label, method, options, translator)]


def _text_tflite(path):
    """A `LiteRTTranslator` of a text-in, text-out file (ConfigError for an --ids-only one)."""
    translator = LiteRTTranslator(path)
    if translator.ids_only:
        raise ConfigError(f"{path}: an --ids-only file takes ids, not text; convert one without --ids-only")
    return translator


def _exported(beam):
    default = f"beam size {beam} by default" if beam else "its serving_default decoding by default"
    return f"as exported ({default}, greedy with --beam-size 1)"


def _converted(beam):
    decoding = f"beam size {beam}" if beam > 1 else "greedy"
    return f"as converted ({decoding}; `tf-transformer tflite --decoding` converts another)"


def _jit_compile(request, recipe):
    """Whether a run directory's decoding compiles with XLA: the request's, else the recipe's."""
    return recipe.decoding.jit_compile if request.jit_compile is None else request.jit_compile


# ---- run directories: the request against the recipe's decoding ------------------------------------------------


def decoding_for(request, decoding):
    """(method, options) for `translation.Translator`: the `DecodingRequest`, defaulting to the recipe's
    `DecodingConfig` for what it leaves out.

    Raises:
        ConfigError: contradictory options (sampling options without sample, sample with a beam, n_best without
            a beam that holds it), or max_extra_length below 0.
    """
    extra = decoding.max_extra_length if request.max_extra_length is None else request.max_extra_length
    if extra < 0:
        raise ConfigError(f"--max-extra-length must be >= 0, got {extra}")
    given_sampling = [name for name in SAMPLING_OPTIONS if getattr(request, name) is not None]
    if request.sample:
        if request.beam_size not in (None, 1) or request.n_best != 1:
            raise ConfigError("--sample draws one output per input; drop --beam-size/--n-best, or drop --sample")
        options = {name: getattr(request, name) for name in given_sampling}
        return "sample", {**options, "max_extra_length": extra}
    if given_sampling:
        raise ConfigError(f"--{given_sampling[0].replace('_', '-')} is a sampling option; add --sample")
    beam_size = request.beam_size if request.beam_size is not None else max(decoding.beam_size, request.n_best)
    if request.n_best > beam_size:
        raise ConfigError(f"--n-best {request.n_best} needs a beam at least that wide; add --beam-size "
                          f"{request.n_best}")
    penalty = decoding.length_penalty if request.length_penalty is None else request.length_penalty
    method, options = decoding_method(dataclasses.replace(decoding, beam_size=beam_size, length_penalty=penalty,
                                                          max_extra_length=extra))
    return method, ({**options, "n_best": request.n_best} if method == "beam" else options)


def decoding_rows(decoding, beam_size=None):
    """[(label, method, options)]: greedy, then beam search with `beam_size` (default the recipe's, 4 if that is
    1) unless it is 1. `decoding` is the recipe's `DecodingConfig` (length penalty, max_extra_length)."""
    if beam_size is None:
        beam_size = decoding.beam_size if decoding.beam_size > 1 else 4
    rows = [("greedy", *decoding_method(dataclasses.replace(decoding, beam_size=1)))]
    if beam_size > 1:
        rows.append((f"beam {beam_size}", *decoding_method(dataclasses.replace(decoding, beam_size=beam_size))))
    return rows


# ---- exports ---------------------------------------------------------------------------------------------------

class ExportTranslator:
    """One signature of a SavedModel export: `text` tf.string [B] -> `translation` tf.string [B], `score` [B].

    Args:
        path: a version directory (`export.latest_version(saved_models/NAME)`).
        signature: "serving_default" (the exported decoding) or "greedy".
    """

    n_best = 1
    jit_compile = False  # an export runs its SavedModel graph

    def __init__(self, path, signature):
        self.loaded = load_export(path, signature)  # keep the module: its signatures use its variables
        self.function = self.loaded.signatures[signature]

    def translate_batch(self, texts):
        """list of str -> list of (translation, score), one per text."""
        outputs = self.function(text=tf.constant(texts, tf.string))
        translations = [text.decode("utf-8") for text in outputs["translation"].numpy()]
        return list(zip(translations, [float(score) for score in outputs["score"].numpy()]))


def load_export(path, signature):
    """The SavedModel at `path` (a version directory), loaded, after checking that it has `signature`.

    Raises:
        ModelPathError: the SavedModel does not load, or has no such signature (both say how to re-export).
    """
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError) as error:
        raise ModelPathError(f"{path}: cannot load the SavedModel ({str(error).splitlines()[0]}); export it "
                             "again with `tf-transformer export`") from None
    if signature not in loaded.signatures:
        raise ModelPathError(f"{path}: the export has no {signature!r} signature (it has "
                             f"{', '.join(sorted(loaded.signatures)) or 'none'}); export it again with "
                             "`tf-transformer export`, or use --run-dir")
    return loaded


def load_attention_export(source, max_extra_length=None):
    """The SavedModel of an export `Source`, loaded, with its `attention` signature (for
    `attention_map.export_attention_map(loaded.signatures["attention"], text)`; keep `loaded` while using it).

    Raises:
        ConfigError: max_extra_length given (the signature decodes with the export's own limit).
        ModelPathError: the export is missing or has no attention signature.
    """
    refuse_unhonoured(DecodingRequest(max_extra_length=max_extra_length), source, (None,),
                      "as exported (greedy, with its own length limit, for the attention signature)")
    path = latest_version(source.path)
    refuse_ensemble(path, "attention draws one model's")
    return load_export(path, "attention")


def export_beam_size(path):
    """The beam size of an export's serving_default (from assets.extra/tf_transformer.json), None if unknown."""
    try:
        return int(export_facts(path)["decoding"]["beam_size"])
    except (ValueError, KeyError, TypeError):
        return None
