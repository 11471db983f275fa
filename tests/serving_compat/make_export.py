"""Train and export tiny models with this package (TensorFlow 2.21) and record what they decode in-process.

    .venv/bin/python tests/serving_compat/make_export.py build/serving-compat

`make serving-compat` runs this, then check_export.py under TensorFlow 2.20 (what TF Serving 2.20 embeds). Two
tiny models cover the four tokenizer kinds: "g2p" (char -> whitespace, the G2P recipes) and "translation"
(wordpiece -> sentencepiece; the translation recipes use sentencepiece). Each is trained for 240 steps by
`trainer.train`, which ends by exporting `<dir>/saved_models/<name>/1/` exactly as `tf-transformer train` /
`export` do; both decode with beam search (beam 3) as their recipe decoding, so `serving_default` and
`translate_ids` run beam search, `greedy` and `attention` the greedy loop. A third export, "g2p_ensemble", is
the g2p run and a copy of it with its weights scaled (so that the two disagree) exported as one ensemble
(`tf-transformer export --run-dir A --run-dir B`): every signature but attention, which an ensemble's export lacks.

Writes `<dir>/reference.json`: per model, the export path (relative to <dir>), the inputs and, per signature,
the outputs of the trained Keras model decoding in this process (`expected`: `translation.Translator` for the text
signatures, `BatchDecoder` and `Transformer.decode` for the ids and attention) and, for diagnosis, what the export
itself gives when loaded here, under the TensorFlow that made it (`export_where_made`).
"""

import json
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PAD_ID, END_ID, START_ID = 0, 3, 2


def _g2p_pairs(rng):
    """Spell backwards: "abc" -> "c b a" (the `trained_run` fixture's task)."""
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 7))) for _ in range(600)]
    return [(word, " ".join(reversed(word))) for word in words]


def _translation_pairs(rng):
    """Sentences of made-up words -> the same words in reverse order ("kalo mi" -> "mi kalo")."""
    syllables = ["ka", "lo", "mi", "su", "te", "ra", "no", "vi"]
    pairs = []
    for _ in range(600):
        words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 4))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


CASES = {
    "g2p": {"pairs": _g2p_pairs, "max_length": 16, "steps": 240,
            "source_tokenizer": {"kind": "char", "vocab_size": None, "lowercase": True},
            "target_tokenizer": {"kind": "whitespace", "vocab_size": None},
            "texts": ["abc", "hij", "jihgfedcba", "ABC", "a b  c", "", "   ", "deadbeef", "x", "j" * 20]},
    "translation": {"pairs": _translation_pairs, "max_length": 24, "steps": 240,
                    "source_tokenizer": {"kind": "wordpiece", "vocab_size": 64},
                    "target_tokenizer": {"kind": "sentencepiece", "vocab_size": 48},
                    "texts": ["kalo mi", "su te ra", "vivi no kami", "Tera Nosu", "", "mi" * 30, "zebra ka",
                              "nokasu telo mira vi"]},
}


def _recipe(name, case, root):
    from tf_transformer.config import Recipe, from_dict

    corpus = os.path.join(root, "corpora", f"{name}.tsv")
    os.makedirs(os.path.dirname(corpus), exist_ok=True)
    with open(corpus, "w", encoding="utf-8") as file:
        file.writelines(f"{source}\t{target}\n" for source, target in case["pairs"](random.Random(0)))
    return from_dict(Recipe, {
        "name": name,
        "data": {"corpus": "tsv", "path": corpus, "tokens_per_batch": 512, "max_source_length": 12,
                 "max_target_length": 12},
        "source_tokenizer": case["source_tokenizer"], "target_tokenizer": case["target_tokenizer"],
        "model": {"preset": "tiny", "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2,
                  "max_length": case["max_length"], "dropout": 0.0},
        "training": {"epochs": 1, "steps_per_epoch": case["steps"], "warmup_steps": 40, "backup_every_steps": 1000,
                     "evaluate_every_epochs": 0},
        "decoding": {"beam_size": 3, "length_penalty": 0.6, "max_extra_length": 4},
        "export": {"directory": os.path.join(root, "saved_models")},
    })


def _source_ids(run, texts):
    """int32 [B, S] as the export's `source_ids` makes them: tokenized, cut to max_length, 0-padded."""
    import numpy as np
    import tensorflow as tf

    rows = [row[:run.model.config.max_length] for row in run.source_tokenizer.tokenize(tf.constant(texts)).to_list()]
    ids = np.full((len(rows), max(len(row) for row in rows)), PAD_ID, np.int32)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = row
    return ids


def _inputs(run, texts, attention=True):
    """{signature: {input name: value}}: the texts, and for translate_ids the non-blank ones tokenized."""
    ids = _source_ids(run, [text for text in texts if text.strip()]).tolist()
    inputs = {"serving_default": {"text": texts}, "greedy": {"text": texts}, "translate_ids": {"source_ids": ids}}
    return {**inputs, "attention": {"text": texts}} if attention else inputs


def _in_process(run, inputs):
    """Per signature, what the trained Keras model decodes in this process for `inputs` (see `_inputs`)."""
    import numpy as np

    from tf_transformer.decoding import BatchDecoder, decoding_method
    from tf_transformer.layers.attention import padding_mask
    from tf_transformer.translation import Translator

    method, options = decoding_method(run.recipe.decoding)
    greedy_options = {"max_extra_length": options["max_extra_length"]}
    expected = {}
    for signature, (name, kwargs) in {"serving_default": (method, options),
                                      "greedy": ("greedy", greedy_options)}.items():
        pairs = Translator(run.model, run.source_tokenizer, run.target_tokenizer, name, **kwargs).translate(
            inputs[signature]["text"])
        expected[signature] = {"translation": [text for text, _ in pairs], "score": [score for _, score in pairs]}

    target_ids, scores = BatchDecoder(run.model, method, **options)(np.array(inputs["translate_ids"]["source_ids"]))
    expected["translate_ids"] = {"target_ids": target_ids.tolist(), "score": scores.tolist()}
    if "attention" not in inputs:
        return expected
    texts = inputs["attention"]["text"]
    source_ids = _source_ids(run, texts)
    target_ids, scores = BatchDecoder(run.model, "greedy", **greedy_options)(source_ids)
    start = np.full((len(texts), 1), START_ID, np.int32)
    target_in = np.concatenate([start, target_ids], 1)[:, :target_ids.shape[1]]
    per_layer = run.model.decode(target_in, run.model.encode(source_ids),
                                 padding_mask(source_ids, PAD_ID)).attention_weights
    expected["attention"] = {"translation": list(expected["greedy"]["translation"]), "score": scores.tolist(),
                             "source_ids": source_ids.tolist(), "target_ids": target_ids.tolist(),
                             "weights": np.stack([np.asarray(w, np.float32) for w in per_layer], 1).tolist()}
    return expected


def _from_export(path, inputs):
    """Per signature, what the export gives for `inputs` when loaded in this process (TensorFlow 2.21); the
    attention signature's token strings are left out (check_export.py compares ids, strings and numbers)."""
    import tensorflow as tf

    signatures = tf.saved_model.load(path).signatures
    results = {}
    for signature, feed in inputs.items():
        outputs = signatures[signature](**{name: tf.constant(value, tf.int32 if name == "source_ids" else tf.string)
                                           for name, value in feed.items()})
        results[signature] = {name: ([item.decode("utf-8") for item in tensor.numpy().tolist()]
                                     if tensor.dtype == tf.string else tensor.numpy().tolist())
                              for name, tensor in outputs.items() if name not in ("source_tokens", "output_tokens")}
    return results


def _export_ensemble(root, name):
    """(the `ensemble.load_ensemble` run, the export path) of run `name` and a copy of it whose weights are scaled
    by 0.8, exported as one ensemble to `<root>/saved_models/<name>_ensemble/1/`."""
    import shutil

    from tf_transformer.ensemble import load_ensemble
    from tf_transformer.export.saved_model import export_run
    from tf_transformer.run_dir import load_run

    first = os.path.join(root, "runs", name)
    second = f"{first}_scaled"
    shutil.copytree(first, second)
    model = load_run(second).model
    for variable in model.trainable_variables:
        variable.assign(variable * 0.8)
    model.save(os.path.join(second, "model.keras"))
    path = export_run([first, second], name=f"{name}_ensemble", directory=os.path.join(root, "saved_models"))
    return load_ensemble([first, second]), path


def _reference_entry(root, name, run, export, inputs):
    """One model of reference.json: where its export is, how it decodes, its inputs and both kinds of outputs."""
    decoding = run.recipe.decoding
    return {"name": name, "export": os.path.relpath(export, root),
            "tokenizers": f"{run.source_tokenizer.kind} -> {run.target_tokenizer.kind}",
            "decoding": {"beam_size": decoding.beam_size, "length_penalty": decoding.length_penalty,
                         "max_extra_length": decoding.max_extra_length},
            "inputs": inputs, "expected": _in_process(run, inputs), "export_where_made": _from_export(export, inputs)}


def main(root):
    import tensorflow as tf
    import tensorflow_text

    from tf_transformer.run_dir import load_run
    from tf_transformer.trainer import train

    os.makedirs(root, exist_ok=True)
    reference = {"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__, "models": []}
    for name, case in CASES.items():
        started = time.perf_counter()
        recipe = _recipe(name, case, root)
        summary = train(recipe, os.path.join(root, "runs", name), verbose=False)
        trained = time.perf_counter()
        run = load_run(os.path.join(root, "runs", name))
        reference["models"].append(_reference_entry(root, name, run, summary["export"], _inputs(run, case["texts"])))
        print(f"{name} ({reference['models'][-1]['tokenizers']}): trained and exported to {summary['export']} in "
              f"{trained - started:.0f} s, reference outputs in {time.perf_counter() - trained:.0f} s")
    run, export = _export_ensemble(root, "g2p")
    reference["models"].append(_reference_entry(root, "g2p_ensemble", run, export,
                                                _inputs(run, CASES["g2p"]["texts"], attention=False)))
    print(f"g2p_ensemble (the g2p run and a copy with scaled weights): exported to {export}")
    path = os.path.join(root, "reference.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump(reference, file)
    print(f"wrote {path} (TensorFlow {tf.__version__}, TensorFlow Text {tensorflow_text.__version__})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_export.py OUTPUT_DIR")
    main(sys.argv[1])
