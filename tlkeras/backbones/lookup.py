"""`get_backbone`: a registered name, a Backbone or a keras.Model -> a `Backbone`.

It lives beside the Backbone contract, not in `builder.py`, so the training
recipes above it (`tlkeras.pretrain`, `tlkeras.text`) can resolve a backbone
name without importing the top floor.
"""

import keras

from tlkeras import registry
from tlkeras.backbones.backbone import Backbone
from tlkeras.errors import ConfigurationError
from tlkeras.errors import PluginError
from tlkeras.errors import TlkerasError


def get_backbone(identifier, **kwargs):
    """Returns a `Backbone` from a registered name, a Backbone, or a keras.Model.

    Args:
        identifier: a name from `tlkeras.list_backbones()`, or a model.
        **kwargs: passed to the registered factory (`input_shape`, `weights`, ...).
    """
    if isinstance(identifier, keras.Model):
        if kwargs:
            raise ConfigurationError(
                "Backbone arguments apply to registered names only; this backbone "
                f"is already built. Received: {sorted(kwargs)}"
            )
        return Backbone.from_model(identifier)
    if not isinstance(identifier, str):
        raise ConfigurationError(
            "backbone must be a registered name, a tlkeras.Backbone or a keras.Model. "
            f"Received: backbone={identifier!r}"
        )
    entry = registry.get_entry(identifier)
    entry.load()
    try:
        result = entry.build(**kwargs)
    except TlkerasError:
        raise
    except TypeError as error:
        raise ConfigurationError(
            f"The backbone {identifier!r} does not accept these arguments ({error}). "
            f"Received: {_arguments(kwargs)}"
        ) from error
    except Exception as error:  # third-party factories may raise anything
        raise PluginError(
            f"The backbone plugin {identifier!r} (from distribution "
            f"{entry.distribution!r}) raised {type(error).__name__}: {error}. "
            f"Received: {_arguments(kwargs) or 'no arguments'}"
        ) from error
    if isinstance(result, Backbone):
        return result
    if isinstance(result, keras.Model):
        source = kwargs.get("weights")
        return Backbone.from_model(
            result,
            modality=entry.declared_modality,
            weights_source=None if source is None else str(source),
        )
    raise PluginError(
        f"The backbone plugin {identifier!r} (from distribution {entry.distribution!r}) "
        f"returned {type(result).__name__}; expected a tlkeras.Backbone or a keras.Model."
    )


def _arguments(kwargs):
    return ", ".join(f"{key}={value!r}" for key, value in sorted(kwargs.items()))
