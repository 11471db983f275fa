"""The TF Serving 2.20 check itself (tests/serving_compat/, run by `make serving-compat` under TensorFlow 2.20):
its checker needs nothing but TensorFlow and TensorFlow Text, passes an export that decodes like the trained
model, and names the signature, output and row of any difference.

Here the checker runs under this venv's TensorFlow 2.21 with the package kept off its path, as the 2.20 venv has
it; the 2.20 run is `make serving-compat`.
"""

import ast
import importlib.util
import json
import os
import site
import subprocess
import sys

import pytest

COMPAT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving_compat")
CHECKER = os.path.join(COMPAT, "check_export.py")
ALLOWED = {"tensorflow", "tensorflow_text"} | set(sys.stdlib_module_names)


def test_the_checker_imports_only_the_standard_library_tensorflow_and_tensorflow_text():
    with open(CHECKER, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and {name.split(".")[0] for name in imported} <= ALLOWED, sorted(imported)


def _check(directory):
    """Run check_export.py on `directory` with site-packages but without its .pth files (no editable package)."""
    script = (f"import runpy, sys; sys.path.append({site.getsitepackages()[0]!r}); "
              f"sys.argv = ['check_export.py', {str(directory)!r}]; runpy.run_path({CHECKER!r}, run_name='__main__')")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-S", "-c", script], cwd=str(directory), env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_the_checker_passes_a_faithful_export_and_names_each_changed_output(trained_run, tmp_path):
    spec = importlib.util.spec_from_file_location("make_export", os.path.join(COMPAT, "make_export.py"))
    make_export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_export)
    from tf_transformer.run_dir import load_run

    run = load_run(trained_run["run_dir"])
    inputs = make_export._inputs(run, ["abc", "hij", "", "ABC", "j" * 20])
    model = {"name": "spell_backwards", "export": trained_run["export"], "tokenizers": "char -> whitespace",
             "decoding": {"beam_size": 3}, "inputs": inputs, "expected": make_export._in_process(run, inputs),
             "export_where_made": make_export._from_export(trained_run["export"], inputs)}
    reference = {"tensorflow": "2.21", "tensorflow_text": "2.21", "models": [model]}
    (tmp_path / "reference.json").write_text(json.dumps(reference), encoding="utf-8")
    passed = _check(tmp_path)
    assert passed.returncode == 0, passed.stderr[-3000:]
    assert passed.stdout.count(" ok ") == 4 and "every signature of 1 exports matches" in passed.stdout

    model["expected"]["translate_ids"]["target_ids"][1][0] += 1
    model["expected"]["greedy"]["translation"][3] += " x"
    model["expected"]["serving_default"]["score"][0] += 0.01
    (tmp_path / "reference.json").write_text(json.dumps(reference), encoding="utf-8")
    failed = _check(tmp_path)
    assert failed.returncode == 1
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3, failed.stderr[-3000:]
    assert any("spell_backwards/translate_ids: target_ids[1]" in line for line in errors)
    assert any("spell_backwards/greedy: translation[3]" in line for line in errors)
    assert any("spell_backwards/serving_default: score differs" in line for line in errors)
