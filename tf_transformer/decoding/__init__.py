"""Autoregressive decoding: greedy, beam search and sampling, strategies of one `tf.while_loop` over a static KV cache.

    target_ids, scores = greedy_decode(model, source_ids)                      # [B, T], [B]
    target_ids, scores = beam_search_decode(model, source_ids, beam_size=4, n_best=2)   # [B, 2, T], [B, 2]
    target_ids, scores = sample_decode(model, source_ids, temperature=0.8, top_p=0.9, seed=1)
    decode = make_decode_fn(model, "beam", beam_size=4)   # one tf.function, input signature [None, None] int32

Modules: `loop` (the one search loop and the `Strategy` interface), `limits` (output lengths, truncation),
`steps` (cached vs recomputed logits), `choosable` (the ids a search may choose: never [PAD], [START] or an id
past the tokenizer's `num_tokens`), the strategies `greedy`, `sampling` and `beam`, and `function` (the traced
entry point with length buckets).
"""

from tf_transformer.decoding.beam import beam_search_decode, length_penalty
from tf_transformer.decoding.function import LENGTH_BUCKETS, METHODS, BatchDecoder, decoding_method, make_decode_fn
from tf_transformer.decoding.greedy import greedy_decode
from tf_transformer.decoding.limits import DEFAULT_MAX_EXTRA_LENGTH, TruncationWarning, warn_if_truncated
from tf_transformer.decoding.sampling import filter_logits, sample_decode

__all__ = ["greedy_decode", "beam_search_decode", "sample_decode", "length_penalty", "filter_logits",
           "make_decode_fn", "decoding_method", "BatchDecoder", "LENGTH_BUCKETS", "METHODS", "DEFAULT_MAX_EXTRA_LENGTH",
           "TruncationWarning", "warn_if_truncated"]
