"""CLI tests call `tf_transformer.cli.main` in-process; a run directory is loaded from disk once per session.

The first command on a run directory goes through `run_dir.load_run` for real; later ones reuse that `Run`
(loading the same model.keras again would only repeat the same work, seconds per call on 2 cores).
"""

import pytest

_LOADED = {}


@pytest.fixture(autouse=True)
def load_each_run_dir_once(monkeypatch):
    from tf_transformer import run_dir

    real = run_dir.load_run

    def load_run(path):
        key = str(path)
        if key not in _LOADED:
            _LOADED[key] = real(path)
        return _LOADED[key]

    monkeypatch.setattr(run_dir, "load_run", load_run)
