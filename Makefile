# `make demo` and `make test` work on a fresh machine: both create .venv and install the package first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-slow bench demo clean

$(STAMP): setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Fast suite (< 15 minutes on 2 cores); slow checks are marked @pytest.mark.slow.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

# Benchmarks (not tests): each prints a table and writes bench/results/<name>.json; about 75 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	for script in attention data decode serve train profile_train tflite; do $(BIN)/python bench/$$script.py || exit 1; done

# The quick start's main job: train the default recipe (resumes if runs/g2p_tiny exists), export, translate.
DEMO_RUN := runs/g2p_tiny
demo: $(STAMP)
	$(BIN)/tf-transformer train --config training/configs/g2p_tiny.yaml --run-dir $(DEMO_RUN)
	$(BIN)/tf-transformer evaluate --run-dir $(DEMO_RUN) --split test
	$(BIN)/tf-transformer translate --model saved_models/g2p_tiny transformer attention tensorflow keras

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
