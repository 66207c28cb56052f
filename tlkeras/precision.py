"""Mixed precision: which dtype policy a model is built under.

On a GPU that computes bfloat16 natively (NVIDIA compute capability >= 8.0:
A100, H100, ...), `"mixed_bfloat16"` roughly doubles matrix throughput and,
unlike float16, needs no loss scaling. Heads stay float32 (see
`tlkeras.heads.Head`), so losses and softmaxes keep full precision.
"""

import contextlib

import keras

from tlkeras.errors import ConfigurationError

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def gpu_supports_bfloat16():
    """True when the first visible GPU has compute capability >= 8.0."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            return bool(gpus) and float(getattr(gpus[0], "compute_capability", 0)) >= 8.0
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return False
            major, _ = tf.config.experimental.get_device_details(gpus[0])["compute_capability"]
            return major >= 8
        if backend == "torch":
            import torch

            return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
    except (RuntimeError, KeyError, ValueError, ImportError):  # no usable device
        return False
    return False


def resolve_policy(mixed_precision):
    """Turns `build(mixed_precision=...)` into a Keras dtype policy name.

    Args:
        mixed_precision: `"auto"` (bfloat16 mixed precision on a GPU that
            supports it, else float32), `True` (`"mixed_bfloat16"`), `False`
            (`"float32"`), or a policy name from `POLICIES`.
    """
    if mixed_precision == "auto":
        return "mixed_bfloat16" if gpu_supports_bfloat16() else "float32"
    if mixed_precision is True:
        return "mixed_bfloat16"
    if mixed_precision is False or mixed_precision is None:
        return "float32"
    if mixed_precision in POLICIES:
        return mixed_precision
    raise ConfigurationError(
        f"Unknown mixed_precision. Received: mixed_precision={mixed_precision!r}; expected "
        f"'auto', True, False, or one of {POLICIES}."
    )


@contextlib.contextmanager
def policy_scope(policy):
    """Builds layers under `policy` inside the block, restoring the global one after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
