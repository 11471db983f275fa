"""Corpus metrics: BLEU and chrF with sacrebleu for translation, WER and PER for grapheme-to-phoneme.

Every function takes hypotheses (one string per source) and references (a list of acceptable strings per source;
G2P words often have several pronunciations, and a hypothesis counts as right if it matches any of them).
"""

import sacrebleu
from rapidfuzz.distance import Levenshtein

LOWER_IS_BETTER = {"wer", "per"}


def translation_scores(hypotheses, references):
    """{"bleu", "chrf"} in 0-100 (sacrebleu's corpus BLEU and chrF; several references per source allowed)."""
    streams = _reference_streams(references)
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, streams).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, streams).score}


def g2p_scores(hypotheses, references):
    """{"wer", "per"} in percent for space-separated phoneme strings.

    WER: words whose hypothesis equals none of their references. PER: phoneme edit distance to the closest
    reference, summed, over the summed length of those references.
    """
    wrong = errors = length = 0
    for hypothesis, options in zip(hypotheses, references, strict=True):
        phonemes = hypothesis.split()
        distance, reference = min((Levenshtein.distance(phonemes, ref.split()), ref.split()) for ref in options)
        wrong += distance > 0
        errors += distance
        length += len(reference)
    count = max(len(hypotheses), 1)
    return {"wer": 100.0 * wrong / count, "per": 100.0 * errors / max(length, 1)}


def scores_for(task, hypotheses, references):
    """The metrics of `task` ("g2p" or "translation")."""
    return (g2p_scores if task == "g2p" else translation_scores)(hypotheses, references)


def _reference_streams(references):
    """Per-source reference lists → sacrebleu's reference streams, padded with None where a source has fewer."""
    width = max((len(options) for options in references), default=1)
    return [[options[i] if i < len(options) else None for options in references] for i in range(width)]
