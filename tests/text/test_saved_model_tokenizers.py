"""Every tokenizer saved inside a SavedModel loads in a process that imports only tensorflow and tensorflow_text,
and there gives the ids and texts it gives here (vocabulary files travel as assets)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import tensorflow as tf

from tf_transformer.config import TokenizerConfig
from tf_transformer.text import build_tokenizer, load_tokenizer

KINDS = ("char", "whitespace", "wordpiece", "sentencepiece")

_LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops)
    texts = json.loads(sys.argv[2])
    holder = tf.saved_model.load(sys.argv[1])
    out = {}
    for kind in json.loads(sys.argv[3]):
        tokenizer = getattr(holder, kind)
        ids = tokenizer.tokenize(tf.constant(texts))
        dense = tokenizer.detokenize(ids.to_tensor())
        ragged = tokenizer.detokenize(ids)
        out[kind] = {"ids": ids.to_list(), "dense": [t.decode() for t in dense.numpy()],
                     "ragged": [t.decode() for t in ragged.numpy()]}
    leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("tf_transformer", "sentencepiece"))
    print(json.dumps({"results": out, "leaked": leaked}))
""")


def test_tokenizers_in_a_saved_model_load_with_only_tensorflow_and_tensorflow_text(tmp_path, inline_sample):
    holder = tf.Module()
    expected = {}
    texts = inline_sample
    for kind in KINDS:
        vocab_size = None if kind in ("char", "whitespace") else 150
        built = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=vocab_size, lowercase=kind == "wordpiece"),
                                texts * 2)
        built.save(tmp_path / "vocab" / kind)
        tokenizer = load_tokenizer(tmp_path / "vocab" / kind)
        setattr(holder, kind, tokenizer)
        ids = tokenizer.tokenize(tf.constant(texts))
        expected[kind] = {"ids": ids.to_list(),
                          "text": [t.decode() for t in tokenizer.detokenize(ids).numpy()]}
    tf.saved_model.save(holder, str(tmp_path / "export"))
    shutil.rmtree(tmp_path / "vocab")  # the export must not need the original files
    assert os.listdir(tmp_path / "export" / "assets")

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    completed = subprocess.run([sys.executable, "-c", _LOADER, str(tmp_path / "export"), json.dumps(texts),
                                json.dumps(KINDS)], capture_output=True, text=True, env=env, cwd=tmp_path,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["leaked"] == []
    for kind in KINDS:
        got = report["results"][kind]
        assert got["ids"] == expected[kind]["ids"], kind
        assert got["dense"] == got["ragged"] == expected[kind]["text"], kind
