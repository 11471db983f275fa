"""The position-wise linear map used by attention, feed-forward and the untied softmax: x·W + b on [B, T, d]."""

import keras


def projection(units, name, activation=None):
    """A `keras.layers.EinsumDense` mapping float [B, T, d_in] to [B, T, units] (kernel [d_in, units], bias [units]).

    Same weights and initializers as `keras.layers.Dense`, but one `Einsum` op in the graph: `Dense` on a rank-3
    input builds a `Tensordot` of about 15 ops (shape arithmetic, transposes, reshapes). Each cached decoding step
    runs 7 projections per decoder layer, so those shape ops were half of its graph; training runs fewer ops too.
    """
    return keras.layers.EinsumDense("btd,de->bte", output_shape=(None, units), bias_axes="e", activation=activation,
                                    name=name)
