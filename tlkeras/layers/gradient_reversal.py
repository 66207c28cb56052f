"""GradientReversal: identity forward, reversed and scaled gradient backward."""

import math

import keras
from keras import ops

from tlkeras.errors import ConfigurationError


@keras.saving.register_keras_serializable(package="tlkeras")
class GradientReversal(keras.layers.Layer):
    """Passes its input through unchanged and multiplies the gradient by `-factor`.

    The gradient reversal layer of Ganin & Lempitsky (2015): placed between a
    feature extractor and a domain discriminator, it lets the discriminator
    learn to tell the domains apart while the features below it learn to make
    them indistinguishable, all in one backward pass.

    `factor` lives in a non-trainable variable, so a schedule (see
    `tlkeras.callbacks.DomainAdversarialSchedule`) can change it between steps
    without retracing the train function. Set it with `layer.factor = value`.

    Args:
        factor: the non-negative scale of the reversed gradient (λ in the DANN
            paper). `0.0` blocks the gradient entirely, which turns whatever
            sits above the layer into a probe that cannot change the features
            below. Defaults to `1.0`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:

    ```python
    features = keras.Input((64,))
    reversed_features = tlkeras.layers.GradientReversal(factor=0.5)(features)
    domain_logit = keras.layers.Dense(1)(reversed_features)
    ```
    """

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self._factor = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(_check_factor(factor)),
            trainable=False,
            # float32 whatever the layer's compute dtype: the value is a
            # hyper-parameter, not an activation.
            dtype="float32",
            name="factor",
        )
        self.supports_masking = True

    @property
    def factor(self):
        """The current scale of the reversed gradient, as a Python float."""
        return float(ops.convert_to_numpy(self._factor))

    @factor.setter
    def factor(self, value):
        self._factor.assign(_check_factor(value))

    @property
    def factor_variable(self):
        """The non-trainable variable holding `factor` (read at every step)."""
        return self._factor

    def call(self, inputs):
        # Read the variable here, outside the custom-gradient function, so the
        # gradient function closes over a tensor rather than a variable (TF's
        # custom_gradient would otherwise ask for gradients of the variable).
        scale = ops.negative(ops.cast(self._factor, inputs.dtype))

        @ops.custom_gradient
        def reverse(x):
            def grad(*args, upstream=None):
                # TF passes the upstream gradient positionally, JAX by keyword.
                if upstream is None:
                    (upstream,) = args
                return ops.multiply(upstream, scale)

            # ops.copy, not ops.identity: the latter builds an identity matrix.
            return ops.copy(x), grad

        return reverse(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor)
        return config


def _check_factor(factor):
    if isinstance(factor, bool):
        raise ConfigurationError(
            f"factor must be a non-negative number. Received: factor={factor!r}"
        )
    try:
        value = float(factor)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"factor must be a non-negative number. Received: factor={factor!r}"
        ) from None
    if not math.isfinite(value) or value < 0.0:
        raise ConfigurationError(
            f"factor must be a finite, non-negative number. Received: factor={factor!r}"
        )
    return value
