"""The residual connection around every sublayer: post-LN (paper §5.4) or pre-LN."""


def residual(x, sublayer, norm, dropout, norm_position, training):
    """Apply `sublayer` inside a residual connection with dropout and LayerNorm.

    post: LayerNorm(x + Dropout(sublayer(x)))   — the paper.
    pre:  x + Dropout(sublayer(LayerNorm(x)))   — trains deep stacks without warm-up tricks.

    Args:
        x: float tensor [B, T, d_model].
        sublayer: callable on [B, T, d_model] returning y [B, T, d_model] or a tuple (y, *extras).
        norm, dropout: the LayerNormalization and Dropout layers of this connection.
        norm_position: "post" or "pre".
        training: whether dropout is active.

    Returns:
        (output [B, T, d_model], extras tuple) — extras are what the sublayer returned after y (weights, cache).
    """
    result = sublayer(norm(x, training=training) if norm_position == "pre" else x)
    y, extras = (result[0], tuple(result[1:])) if isinstance(result, tuple) else (result, ())
    y = x + dropout(y, training=training)
    return (y if norm_position == "pre" else norm(y, training=training)), extras
