"""Task heads, by name or instance (the Keras `get()` idiom)."""

import keras

from tlkeras.errors import ConfigurationError
from tlkeras.heads.classifier_head import ClassifierHead
from tlkeras.heads.head import Head
from tlkeras.heads.regressor_head import RegressorHead
from tlkeras.heads.sizing import num_classes_from_fit_data
from tlkeras.heads.sizing import num_classes_from_labels
from tlkeras.heads.token_classifier_head import TokenClassifierHead

_BY_NAME = {
    "classifier": ClassifierHead,
    "classify": ClassifierHead,  # the spelling of the design card
    "classification": ClassifierHead,
    "regressor": RegressorHead,
    "regression": RegressorHead,
    "token_classifier": TokenClassifierHead,
    "tagger": TokenClassifierHead,
}


def register_head(name, head_class):
    """Makes `head=name` build `head_class(**kwargs)` (for plugins, e.g. graph heads)."""
    if not (isinstance(head_class, type) and issubclass(head_class, keras.layers.Layer)):
        raise ConfigurationError(
            f"head_class must be a keras Layer subclass. Received: {head_class!r}"
        )
    _BY_NAME[name] = head_class


def get_class(name):
    """The head class registered under `name`, or `None`."""
    return _BY_NAME.get(name)


def get(identifier, **kwargs):
    """Returns a head layer from a name, a config dict, or a Layer instance.

    Args:
        identifier: `"classifier"` (alias `"classify"`), `"regressor"`, a name
            added with `register_head`, a serialized config dict, or a
            `keras.layers.Layer` (returned as-is).
        **kwargs: constructor arguments for a named head (`num_classes`, ...).
    """
    if isinstance(identifier, keras.layers.Layer):
        return identifier
    if isinstance(identifier, dict):
        try:
            head = keras.saving.deserialize_keras_object(identifier)
        except Exception as error:  # Keras raises many types for a bad config
            raise ConfigurationError(
                f"Could not build a head from this config ({type(error).__name__}: {error}). "
                f"Received: head={identifier!r}"
            ) from error
        if not isinstance(head, keras.layers.Layer):
            raise ConfigurationError(
                f"A head config must describe a keras Layer. Received: head={identifier!r}"
            )
        return head
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier](**kwargs)
    raise ConfigurationError(
        f"Unknown head. Received: head={identifier!r}; expected one of "
        f"{sorted(_BY_NAME)} or a keras.layers.Layer instance."
    )


__all__ = [
    "ClassifierHead",
    "Head",
    "RegressorHead",
    "TokenClassifierHead",
    "get",
    "get_class",
    "num_classes_from_fit_data",
    "num_classes_from_labels",
    "register_head",
]
