# `make demo` and `make test` work on a fresh machine: both create .venv and install the package first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-slow bench demo serving-compat clean

$(STAMP): setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Lint (ruff: pyproject.toml), then the fast suite (< 15 minutes on 2 cores); slow checks are marked
# @pytest.mark.slow.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

# Benchmarks (not tests): each prints a table and writes bench/results/<name>.json; about 80 minutes on 2 cores
# (bench/rnn_baseline.py, ~12 minutes a run, runs on its own: the README's Results lists its three commands).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	for script in attention data decode serve train profile_train tflite g2p_baseline; do $(BIN)/python bench/$$script.py || exit 1; done

# The quick start's main job: train the default recipe (resumes if runs/g2p_tiny exists), export, translate.
DEMO_RUN := runs/g2p_tiny
demo: $(STAMP)
	$(BIN)/tf-transformer train --config training/configs/g2p_tiny.yaml --run-dir $(DEMO_RUN)
	$(BIN)/tf-transformer evaluate --run-dir $(DEMO_RUN) --split test
	$(BIN)/tf-transformer translate --model saved_models/g2p_tiny transformer attention tensorflow keras

# TF Serving 2.20 embeds TensorFlow 2.20.0 + TensorFlow Text 2.20.0 (text-2.20.0 in its workspace.bzl): train and
# export two tiny models here (TF 2.21), then load them and run every signature in a separate venv holding only those
# two (and what they pull in); ids must match in-process decoding bit for bit, strings exactly. 5-10 minutes on 2
# cores (the first run also installs ~2 GB).
SERVING_TF := 2.20.0
SERVING_VENV := .venv-serving
SERVING_STAMP := $(SERVING_VENV)/.installed-$(SERVING_TF)
SERVING_DIR := build/serving-compat

$(SERVING_STAMP):
	test -d $(SERVING_VENV) || $(PYTHON) -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVING_VENV)/bin/pip install --quiet "tensorflow==$(SERVING_TF)" "tensorflow-text==$(SERVING_TF)"
	touch $(SERVING_STAMP)

serving-compat: $(STAMP) $(SERVING_STAMP)
	rm -rf $(SERVING_DIR)
	$(BIN)/python tests/serving_compat/make_export.py $(SERVING_DIR)
	$(SERVING_VENV)/bin/python -I tests/serving_compat/check_export.py $(SERVING_DIR) --expect-tensorflow $(SERVING_TF)

clean:
	rm -rf $(VENV) $(SERVING_VENV) .pytest_cache build *.egg-info
