"""Backbone discovery: the `tlkeras.backbones` entry-point group.

Every backbone, tlkeras's own included, is an entry point in the group
`tlkeras.backbones`. The entry point's name is the backbone's name; its object
is a `tlkeras.Backbone` subclass, a factory returning one, or any callable that
returns a plain `keras.Model` whose output is a feature tensor.

Discovery is lazy (listing reads distribution metadata only; a plugin's module
is imported when its backbone is first built), cached, and fault-isolated: a
broken or duplicate plugin warns and never breaks `import tlkeras` or any other
backbone.

What a backbone is (its modality, default input shape, the weights it offers
and their licences) is declared beside the entry point, in a
`tlkeras_backbones.toml` file inside the plugin's top-level package, one table
per backbone name. The registry finds that file with `importlib.util.find_spec`
(which locates a package without running it), so `tlkeras list` reads it
without importing the plugin, for wheels and editable installs alike:

```toml
[small_cnn]
modality = "image"
input_shape = [32, 32, 3]
weights = { cifar10 = "CC-BY-4.0" }
```
"""

import ast
import difflib
import functools
import importlib.metadata
import importlib.util
import os
import threading
import warnings
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from tlkeras.errors import ConfigurationError
from tlkeras.errors import PluginError
from tlkeras.errors import UnknownBackboneError

ENTRY_POINT_GROUP = "tlkeras.backbones"
DISABLE_ENV_VAR = "TLKERAS_DISABLE_PLUGINS"
TIMEOUT_ENV_VAR = "TLKERAS_PLUGIN_TIMEOUT"
FIRST_PARTY_DISTRIBUTION = "tlkeras"
METADATA_FILE = "tlkeras_backbones.toml"
MODALITIES = ("image", "text", "graph", "other")
METADATA_KEYS = ("modality", "input_shape", "weights")


@dataclass(frozen=True)
class BackboneMetadata:
    """What a plugin declares about one backbone, read without importing it.

    Attributes:
        modality: `"image"`, `"text"`, `"graph"`, `"other"`, or `None` when
            not declared.
        input_shape: the default input shape without the batch axis (`None`
            for a free dimension), or `None` when not declared.
        weights: dict weights name -> licence of those weights (the names
            `weights=` accepts besides `None` and a file path).
        source: the file it was read from, or `None`.
        problems: what is wrong in the declaration (unknown keys, bad
            values); `tlkeras.testing` fails on these, `tlkeras list` warns.
    """

    modality: object = None
    input_shape: object = None
    weights: dict = field(default_factory=dict)
    source: object = None
    problems: tuple = ()


def parse_metadata(table, source=None):
    """Checks one backbone's table of a `tlkeras_backbones.toml` into `BackboneMetadata`."""
    if not isinstance(table, dict):
        return BackboneMetadata(
            source=source, problems=(f"expected a table of {METADATA_KEYS}, got {table!r}",)
        )
    problems = [
        f"unknown key {key!r} (known: {', '.join(METADATA_KEYS)})"
        for key in table
        if key not in METADATA_KEYS
    ]
    modality = table.get("modality")
    if modality is not None and modality not in MODALITIES:
        problems.append(f"modality={modality!r}; expected one of {MODALITIES}")
        modality = None
    input_shape = _parse_shape(table.get("input_shape"), problems)
    weights = table.get("weights", {})
    if not isinstance(weights, dict) or not all(isinstance(v, str) and v for v in weights.values()):
        problems.append(
            f"weights={weights!r}; expected a table weights name -> licence, "
            'e.g. weights = { imagenet = "Apache-2.0" }'
        )
        weights = {}
    return BackboneMetadata(modality, input_shape, dict(weights), source, tuple(problems))


def _parse_shape(value, problems):
    if value is None:
        return None
    shape = value
    if isinstance(value, str):  # "(None, None, 3)": TOML has no null
        try:
            shape = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            shape = value
    valid = isinstance(shape, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape
    )
    if not valid:
        problems.append(
            f"input_shape={value!r}; expected a list of positive ints such as [32, 32, 3], "
            'or a string such as "(None, None, 3)" for free dimensions'
        )
        return None
    return tuple(shape)


@functools.cache
def _package_metadata(top_level):
    """The tables of `METADATA_FILE` in package `top_level`, found without importing it."""
    try:
        spec = importlib.util.find_spec(top_level)
    except (ImportError, ValueError):
        return None, {}
    for folder in (spec and spec.submodule_search_locations) or ():
        path = Path(folder) / METADATA_FILE
        if path.is_file():
            try:
                return str(path), tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                return str(path), {"__error__": f"{type(error).__name__}: {error}"}
    return None, {}


@dataclass
class BackboneEntry:
    """What the registry knows about one backbone before importing it.

    Attributes:
        name: the backbone's name, as passed to `tlkeras.build`.
        distribution: the installed distribution that registers it, or
            `"<in-process>"` for `register_backbone`.
        target: `"module:attr"` of the entry point, or the object's qualname.
        metadata: the `BackboneMetadata` declared for it (read without
            importing the plugin).
        modality: `"image"`, `"text"`, `"graph"` or `"other"`: the declared
            one, else the factory's `modality` attribute (which imports it),
            else `"other"`.
    """

    name: str
    distribution: str
    target: str
    _entry_point: object = field(default=None, repr=False)
    _factory: object = field(default=None, repr=False)
    _load_error: object = field(default=None, repr=False)
    _metadata: object = field(default=None, repr=False)

    @property
    def metadata(self):
        if self._metadata is None:
            top_level = self.target.split(":")[0].split(".")[0]
            source, tables = _package_metadata(top_level)
            if "__error__" in tables:
                self._metadata = BackboneMetadata(source=source, problems=(tables["__error__"],))
            elif self.name in tables:
                self._metadata = parse_metadata(tables[self.name], source)
            else:
                self._metadata = BackboneMetadata(source=source)
            for problem in self._metadata.problems:
                _warn_once(
                    ("metadata", self.name, problem),
                    f"The metadata of backbone {self.name!r} in {source} is ignored in part: "
                    f"{problem}.",
                )
        return self._metadata

    @property
    def declared_modality(self):
        """The modality stated in code (`factory.modality`) or in the metadata file, or `None`."""
        if self._factory is not None and getattr(self._factory, "modality", None):
            return self._factory.modality
        return self.metadata.modality

    def load(self):
        """Imports and returns the factory, raising `PluginError` on failure."""
        if self._factory is None and self._load_error is None:
            try:
                self._factory = self._entry_point.load()
            except Exception as error:  # a plugin may raise anything at import
                self._load_error = error
        if self._load_error is not None:
            raise PluginError(
                f"The backbone plugin {self.name!r} (entry point "
                f"{self.target!r} from distribution {self.distribution!r}) "
                f"failed to import: {type(self._load_error).__name__}: "
                f"{self._load_error}. Fix or uninstall that distribution, or "
                f"disable it with {DISABLE_ENV_VAR}={self.name}."
            ) from self._load_error
        if not callable(self._factory):
            raise PluginError(
                f"The backbone plugin {self.name!r} from distribution "
                f"{self.distribution!r} points at a non-callable object. "
                f"Received: {self._factory!r}; expected a Backbone subclass or "
                "a factory function."
            )
        return self._factory

    def build(self, **kwargs):
        """Calls the factory with `kwargs`, within the plugin timeout if one is set.

        A third-party factory that has not returned after `plugin_timeout()`
        seconds raises `PluginError` (its thread is abandoned: Python cannot
        stop it). tlkeras's own factories, which may be downloading weights,
        are never timed out.
        """
        factory = self.load()
        timeout = plugin_timeout()
        if timeout is None or self.distribution == FIRST_PARTY_DISTRIBUTION:
            return factory(**kwargs)
        return _call_with_timeout(self, factory, kwargs, timeout)

    @property
    def modality(self):
        if self.metadata.modality is not None:
            return self.metadata.modality
        try:
            factory = self.load()
        except PluginError as error:
            _warn_once(("broken", self.name), str(error))
            return "unavailable"
        return getattr(factory, "modality", None) or "other"


_lock = threading.RLock()
_UNSET = object()
_timeout = {"seconds": _UNSET}
_in_process = {}
_warned = set()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def plugin_timeout():
    """Seconds a third-party backbone factory may take, or `None` for no limit.

    Set with `set_plugin_timeout(seconds)` or the environment variable
    `TLKERAS_PLUGIN_TIMEOUT`; the function wins. Defaults to no limit.
    """
    if _timeout["seconds"] is not _UNSET:
        return _timeout["seconds"]
    raw = os.environ.get(TIMEOUT_ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigurationError(
            f"{TIMEOUT_ENV_VAR} must be a number of seconds > 0. "
            f"Received: {TIMEOUT_ENV_VAR}={raw!r}"
        )
    return seconds


def set_plugin_timeout(seconds):
    """Limits how long a third-party backbone factory may run, in seconds.

    `None` clears the limit set here, falling back to `TLKERAS_PLUGIN_TIMEOUT`
    (no limit when that is unset).

    Example:

    ```python
    tlkeras.registry.set_plugin_timeout(120)   # a hung plugin fails after 2 minutes
    ```
    """
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0
    ):
        raise ConfigurationError(
            f"A plugin timeout must be a number of seconds > 0 or None. Received: seconds={seconds!r}"
        )
    _timeout["seconds"] = _UNSET if seconds is None else float(seconds)


def _call_with_timeout(entry, factory, kwargs, timeout):
    import keras

    # Keras keeps its dtype policy per thread, and tf.distribute its scope.
    policy = keras.config.dtype_policy()
    scope = _distribution_scope()
    outcome = {}

    def run():
        keras.config.set_dtype_policy(policy)
        try:
            with scope():
                outcome["result"] = factory(**kwargs)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"tlkeras-plugin-{entry.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise PluginError(
            f"The backbone plugin {entry.name!r} (from distribution {entry.distribution!r}) "
            f"did not return within {timeout:g} s. Raise the limit with "
            f"tlkeras.registry.set_plugin_timeout(...) or {TIMEOUT_ENV_VAR}, or disable the "
            f"plugin with {DISABLE_ENV_VAR}={entry.name}. Received: timeout={timeout:g}"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _distribution_scope():
    import contextlib

    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return tf.distribute.get_strategy().scope
    return contextlib.nullcontext


def _disabled_names():
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


@functools.lru_cache(maxsize=1)
def _installed_entries():
    """Reads entry-point metadata once per process (cheap: imports nothing)."""
    entries = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist.name if entry_point.dist else "<unknown>"
        entry = BackboneEntry(
            name=entry_point.name,
            distribution=dist,
            target=entry_point.value,
            _entry_point=entry_point,
        )
        previous = entries.get(entry.name)
        if previous is not None and previous.distribution != dist:
            _warn_once(
                ("duplicate", entry.name),
                f"Two installed distributions register the backbone "
                f"{entry.name!r}: {previous.distribution!r} and {dist!r}. "
                f"Using the one from {_preferred(previous, entry).distribution!r}"
                f"; uninstall the other or disable it with {DISABLE_ENV_VAR}.",
            )
            entry = _preferred(previous, entry)
        entries[entry.name] = entry
    return entries


def _preferred(first, second):
    # A first-party name wins, so a third-party plugin cannot silently replace
    # tlkeras's own backbone; otherwise the first one discovered stays.
    if second.distribution == FIRST_PARTY_DISTRIBUTION:
        return second
    return first


def _active_entries():
    disabled = _disabled_names()
    disable_all_third_party = "*" in disabled
    with _lock:
        entries = dict(_installed_entries())
        entries.update(_in_process)
    return {
        name: entry
        for name, entry in entries.items()
        if name not in disabled
        and not (
            disable_all_third_party
            and entry.distribution not in (FIRST_PARTY_DISTRIBUTION, "<in-process>")
        )
    }


def refresh():
    """Forgets cached entry-point metadata, e.g. after `pip install`-ing a plugin."""
    _installed_entries.cache_clear()
    _package_metadata.cache_clear()
    _warned.clear()


def register_backbone(name, *, modality=None):
    """Registers a backbone factory in this process (for notebooks and tests).

    Args:
        name: the name `tlkeras.build` will accept.
        modality: optional; stored on the factory as `modality` when given.
            Defaults to `None` (keep the factory's own attribute).

    Example:

    ```python
    @tlkeras.register_backbone("tiny_cnn", modality="image")
    def tiny_cnn(input_shape=(32, 32, 3), weights=None, **kwargs):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3)(inputs)
        return keras.Model(inputs, x)
    ```
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"A backbone name must be a non-empty string. Received: name={name!r}"
        )

    def decorator(factory):
        if not callable(factory):
            raise ConfigurationError(
                "register_backbone decorates a Backbone subclass or a factory "
                f"function. Received: {factory!r}"
            )
        if modality is not None:
            factory.modality = modality
        qualname = getattr(factory, "__qualname__", repr(factory))
        with _lock:
            _in_process[name] = BackboneEntry(
                name=name,
                distribution="<in-process>",
                target=f"{getattr(factory, '__module__', '?')}:{qualname}",
                _factory=factory,
                _metadata=parse_metadata({} if modality is None else {"modality": modality}),
            )
        return factory

    return decorator


def unregister_backbone(name):
    """Removes a backbone registered in-process with `register_backbone`."""
    with _lock:
        if _in_process.pop(name, None) is None:
            raise UnknownBackboneError(
                f"No in-process backbone named {name!r} to unregister. Received: name={name!r}"
            )


def list_backbones(modality=None):
    """Names of every available backbone, sorted.

    Args:
        modality: optional filter (`"image"`, `"text"`, `"graph"`, `"other"`).
            Read from each plugin's declared metadata; only a plugin that
            declares none is imported to read its factory's `modality`.
            Defaults to `None` (no filter).

    Returns:
        A sorted list of names.
    """
    entries = _active_entries()
    if modality is None:
        return sorted(entries)
    return sorted(name for name, e in entries.items() if e.modality == modality)


def backbone_info():
    """One `BackboneEntry` per available backbone (name, distribution, target)."""
    return [entry for _, entry in sorted(_active_entries().items())]


def get_entry(name):
    """The registry entry for `name`, or an `UnknownBackboneError` that helps."""
    entries = _active_entries()
    if name in entries:
        return entries[name]
    if name in _disabled_names():
        raise UnknownBackboneError(
            f"The backbone {name!r} is disabled by {DISABLE_ENV_VAR}="
            f"{os.environ.get(DISABLE_ENV_VAR)!r}. Received: backbone={name!r}"
        )
    close = difflib.get_close_matches(str(name), list(entries), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownBackboneError(
        f"Unknown backbone. Received: backbone={name!r}.{hint} "
        "Run `tlkeras list` or `tlkeras.list_backbones()` to see the installed "
        "ones; plugins add more through the 'tlkeras.backbones' entry-point group."
    )
