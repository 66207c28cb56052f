"""The exceptions tlkeras raises, so callers can catch them by kind.

Each subclasses the builtin a Keras user would expect (`ValueError` for bad
arguments, ...), so `except ValueError` keeps working.
"""

import reprlib


class TlkerasError(Exception):
    """Base class of every error tlkeras raises on purpose."""


class UnknownBackboneError(TlkerasError, ValueError):
    """A backbone name that no installed plugin registers."""


class PluginError(TlkerasError, RuntimeError):
    """A backbone plugin failed to import, raised, or returned the wrong type."""


class WeightsError(TlkerasError, ValueError):
    """Weights that cannot be found, fetched, verified or loaded."""


class UnsafeCheckpointError(WeightsError):
    """A checkpoint asked for something beyond rebuilding tensors."""


class ConfigurationError(TlkerasError, ValueError):
    """An argument or config value outside what tlkeras accepts."""


class DataError(TlkerasError, ValueError):
    """Training or evaluation data that does not fit the model: shapes, dtypes, labels, NaN/Inf."""


def short_repr(value, limit=120):
    """`repr(value)` cut to about `limit` characters, for echoing untrusted values in errors.

    A value from a hostile file can be huge or deeply shared (a YAML alias
    bomb writes out to gigabytes); `reprlib` stops early instead of building
    the whole text first.
    """
    shortener = reprlib.Repr()
    shortener.maxlevel, shortener.maxstring, shortener.maxother = 3, limit, limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 6
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
