"""The residual connection around every sublayer: post-LN (paper §5.4) or pre-LN.

post: LayerNorm(x + Dropout(sublayer(x)))   — the paper.
pre:  x + Dropout(sublayer(LayerNorm(x)))   — trains deep stacks without warm-up tricks.

`residual` wraps a sublayer that returns a tensor. Around a sublayer whose other results are needed (attention
returns an `AttentionOutput`), call its two halves: `residual_input`, the sublayer, then `residual_output`.
"""


def residual(x, sublayer, norm, dropout, norm_position, training):
    """Apply `sublayer` inside a residual connection with dropout and LayerNorm.

    Args:
        x: float tensor [B, T, d_model].
        sublayer: callable on [B, T, d_model] returning y [B, T, d_model].
        norm, dropout: the LayerNormalization and Dropout layers of this connection.
        norm_position: "post" or "pre".
        training: whether dropout is active.

    Returns:
        float tensor [B, T, d_model].
    """
    y = sublayer(residual_input(x, norm, norm_position, training))
    return residual_output(x, y, norm, dropout, norm_position, training)


def residual_input(x, norm, norm_position, training):
    """What the sublayer of the connection sees: LayerNorm(x) when pre-LN, x when post-LN."""
    return norm(x, training=training) if norm_position == "pre" else x


def residual_output(x, y, norm, dropout, norm_position, training):
    """The connection's output from its input x and the sublayer's output y, both [B, T, d_model]:
    x + Dropout(y), then LayerNorm when post-LN."""
    y = x + dropout(y, training=training)
    return y if norm_position == "pre" else norm(y, training=training)
