"""Metrics: a perfect hypothesis scores perfectly, any matching reference counts, errors are counted exactly."""

import pytest

from tf_transformer.evaluation import g2p_scores, translation_scores


def test_g2p_word_counts_as_right_when_it_matches_any_reference():
    scores = g2p_scores(["T AH M EY T OW", "K AE T"], [["T AH M AA T OW", "T AH M EY T OW"], ["K AE T"]])
    assert scores == {"wer": 0.0, "per": 0.0}


def test_g2p_errors_are_edit_operations_against_the_closest_reference():
    # one substitution against a 3-phoneme reference, one deletion against a 2-phoneme one
    scores = g2p_scores(["K AH T", "AY"], [["K AE T"], ["AY Z"]])
    assert scores["wer"] == 100.0
    assert scores["per"] == pytest.approx(100.0 * 2 / 5)


def test_translation_scores_are_perfect_for_the_reference_and_lower_otherwise():
    references = [["the house is small"], ["a cat sat on the mat today"]]
    perfect = translation_scores(["the house is small", "a cat sat on the mat today"], references)
    worse = translation_scores(["the home is tiny", "a dog sat on a mat"], references)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert worse["bleu"] < 50 and worse["chrf"] < perfect["chrf"]
