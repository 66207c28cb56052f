"""Comparison configs from YAML: checked key by key, with errors that name the bad key and value.

```yaml
backbone: efficientnet_lite0
build: {input_shape: [64, 64, 3]}        # tlkeras.build arguments shared by all configs
data: {name: fashion_mnist, image_size: 64, test_per_class: 50}
configs:
  scratch: {weights: null, freeze: false}
  fine_tune: {weights: imagenet, freeze: false, learning_rate: 3.0e-4}
fractions: [0.001, 0.01]
seeds: [0, 1]
epochs: 6
```
"""

import difflib
import functools
import inspect
import os

from tlkeras.errors import ConfigurationError
from tlkeras.errors import short_repr

DATA_KEYS = {
    "fashion_mnist": {"name", "image_size", "train_per_class", "test_per_class", "folder"},
    "digits": {"name", "image_size", "test_fraction"},
    "npz": {"name", "path", "image_size"},
}
# Keys of the file itself; every other key is a `tlkeras.compare` argument and
# takes compare()'s own default, so the two cannot drift apart.
FILE_DEFAULTS = dict(backbone=None, build={}, data=None, configs=None)
COMPARE_KEYS = (
    "fractions", "shots", "seeds", "steps", "epochs", "early_stopping", "validation_split",
    "cv", "metrics", "batch_size", "precise_bn", "tune", "max_trials", "baselines", "reference",
)  # fmt: skip
# A config is a page of YAML; these bounds keep a hostile one from costing
# more than reading a page: its size, its nesting, and how many values its
# aliases (`*name`) may add by repeating anchored ones (each a few at most
# in an honest file; nested aliases grow exponentially: the "billion laughs").
MAX_CONFIG_BYTES = 256 << 10
MAX_NESTING = 100
MAX_ALIAS_VALUES = 10_000


def defaults():
    """Every accepted top-level key with its default value."""
    from tlkeras.evaluation.compare import compare

    parameters = inspect.signature(compare).parameters
    from_compare = {key: parameters[key].default for key in COMPARE_KEYS}
    # YAML gives lists, and the checks below take lists: (0,) becomes [0].
    from_compare = {k: list(v) if isinstance(v, tuple) else v for k, v in from_compare.items()}
    return {**FILE_DEFAULTS, **from_compare}


class _Checker:
    """Raises ConfigurationError naming the source, the key path and the value."""

    def __init__(self, source):
        self.source = source

    def fail(self, key, value, expected):
        raise ConfigurationError(
            f"{self.source}: bad value for {key!r}: {expected}. Received: {key}={short_repr(value)}"
        )

    def unknown(self, key, value, known, where=""):
        close = difflib.get_close_matches(str(key)[:100], sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigurationError(
            f"{self.source}: unknown key {short_repr(key)}{where}{hint}; expected one of "
            f"{sorted(known)}. Received: {str(key)[:100]}={short_repr(value)}"
        )

    def integer(self, key, value, minimum):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, value, f"expected an int >= {minimum}")
        return value

    def number_list(self, key, value, kind, check):
        values = value if isinstance(value, list) else [value]
        if not values or any(
            isinstance(v, bool) or not isinstance(v, kind) or not check(v) for v in values
        ):
            self.fail(key, value, "expected a non-empty list of " + check.__doc__)
        return values


def _fraction(v):
    """numbers in (0, 1]"""
    return 0 < v <= 1


def _positive(v):
    """positive ints"""
    return v >= 1


def _any_int(v):
    """ints"""
    return True


def load_comparison_config(source):
    """Loads and checks a comparison config (a YAML file path or a dict).

    Every key is checked: unknown keys (with a suggestion for a typo), values
    of the wrong type or range, configurations that set the shared budget
    (`epochs`, `early_stopping`, ...) and unknown metrics raise a
    `tlkeras.errors.ConfigurationError` naming the key and value.

    Args:
        source: a path to a YAML file, or a dict with the same content.

    Returns:
        A dict with every key filled in (defaults: `seeds: [0]`,
        `steps: null` (compare()'s default budget), `metrics: auto`, `batch_size: 32`, ...).

    Example:

    ```python
    config = load_comparison_config("compare.yaml")
    config["configs"]["fine_tune"]
    ```
    """
    if isinstance(source, dict):
        raw, name = source, "config"
    else:
        name = os.fspath(source)
        raw = load_yaml(name)
    check = _Checker(name)
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{name}: the top level must be a mapping of keys. Received: {short_repr(raw)}"
        )
    known = defaults()
    for key, value in raw.items():
        if key not in known:
            check.unknown(key, value, known)
    config = {**known, **raw}

    if config["backbone"] is not None and not isinstance(config["backbone"], str):
        check.fail("backbone", config["backbone"], "expected a registered backbone name")
    if not isinstance(config["build"], dict):
        check.fail("build", config["build"], "expected a mapping of tlkeras.build arguments")
    config["data"] = _check_data(check, config["data"])
    config["configs"] = _check_configs(check, config["configs"], config["backbone"])
    if config["fractions"] is not None:
        config["fractions"] = check.number_list(
            "fractions", config["fractions"], (int, float), _fraction
        )
    if config["shots"] is not None:
        config["shots"] = check.number_list("shots", config["shots"], int, _positive)
    config["seeds"] = check.number_list("seeds", config["seeds"], int, _any_int)
    for budget_key in ("steps", "epochs"):
        if config[budget_key] is not None:
            check.integer(budget_key, config[budget_key], 1)
    check.integer("batch_size", config["batch_size"], 1)
    if config["cv"] is not None:
        check.integer("cv", config["cv"], 2)
    stopping = config["early_stopping"]
    if stopping not in (None, "auto") and not isinstance(stopping, dict):
        check.integer("early_stopping", stopping, 0)
    split = config["validation_split"]
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
        check.fail("validation_split", split, "expected a number in [0, 1)")
    if not isinstance(config["precise_bn"], bool):
        check.fail("precise_bn", config["precise_bn"], "expected true or false")
    config["metrics"] = _check_metrics(check, config["metrics"])
    tune = config["tune"]
    if tune not in (None, "auto"):
        if not isinstance(tune, dict) or not tune:
            check.fail("tune", tune, "expected a mapping argument -> list of values")
        for key, values in tune.items():
            if not isinstance(values, list) or not values:
                check.fail(f"tune.{key}", values, "expected a non-empty list of values")
    if config["max_trials"] is not None:
        check.integer("max_trials", config["max_trials"], 1)
    return config


def load_yaml(path):
    """Reads a YAML file with YAML's safe tags, bounded in size, nesting and alias expansion.

    Args:
        path: the file.

    Returns:
        The parsed document.

    Raises:
        ConfigurationError: naming the file when it is missing, not UTF-8
            YAML, larger than `MAX_CONFIG_BYTES` (256 KiB), nested deeper than
            `MAX_NESTING` (100), or when its aliases add more than
            `MAX_ALIAS_VALUES` (10,000) values.
    """
    import yaml

    if not os.path.isfile(path):
        raise ConfigurationError(f"No such config file. Received: config_path={path!r}")
    with open(path, "rb") as f:
        content = f.read(MAX_CONFIG_BYTES + 1)
    if len(content) > MAX_CONFIG_BYTES:
        raise ConfigurationError(
            f"{path}: a config file is at most {MAX_CONFIG_BYTES} bytes "
            f"(tlkeras.evaluation.config.MAX_CONFIG_BYTES). Received: config_path={path!r}"
        )
    try:
        loader = _bounded_loader()(content.decode("utf-8"))
        loader.source_name = path
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigurationError(
            f"{path}: not a UTF-8 YAML file ({str(error)[:500]}). Received: config_path={path!r}"
        ) from error


@functools.cache
def _bounded_loader():
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader whose composer counts nesting and written values, then sizes the aliases."""

        nesting = written = 0
        source_name = "config"

        def compose_node(self, parent, index):
            self.nesting += 1
            self.written += 1
            if self.nesting > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise ConfigurationError(
                    f"{self.source_name}: values nested more than {MAX_NESTING} levels deep "
                    f"(line {mark.line + 1}). Received: config_path={self.source_name!r}"
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self.nesting -= 1

        def compose_document(self):
            node = super().compose_document()
            _check_expansion(node, self.written + MAX_ALIAS_VALUES, self.source_name)
            return node

    return BoundedLoader


def _check_expansion(root, limit, name):
    """Raises when `root` (a composed YAML node graph) written out holds more than `limit` values."""
    sizes, on_path, stack = {}, set(), [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _yaml_children(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > limit:
                raise ConfigurationError(
                    f"{name}: its aliases (*name) repeat anchored values into more than {limit} "
                    f"values (tlkeras.evaluation.config.MAX_ALIAS_VALUES = {MAX_ALIAS_VALUES} "
                    f"beyond the values written). Received: config_path={name!r}"
                )
        elif key not in sizes:
            if key in on_path:
                raise ConfigurationError(
                    f"{name}: an alias refers to a value that contains it. "
                    f"Received: config_path={name!r}"
                )
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)


def _yaml_children(node):
    if isinstance(node.value, list):
        return [
            part for item in node.value for part in (item if isinstance(item, tuple) else (item,))
        ]
    return []


def _check_data(check, data):
    if not isinstance(data, dict) or "name" not in data:
        check.fail("data", data, f"expected a mapping with a 'name', one of {sorted(DATA_KEYS)}")
    if data["name"] not in DATA_KEYS:
        check.fail("data.name", data["name"], f"expected one of {sorted(DATA_KEYS)}")
    for key, value in data.items():
        if key not in DATA_KEYS[data["name"]]:
            check.unknown(
                f"data.{key}", value, DATA_KEYS[data["name"]], where=f" for data {data['name']!r}"
            )
    if "image_size" in data:
        check.integer("data.image_size", data["image_size"], 8)
    if data["name"] == "npz" and not isinstance(data.get("path"), str):
        check.fail(
            "data.path",
            data.get("path"),
            "expected the path of an .npz with x_train, y_train, x_test, y_test",
        )
    return data


def _check_configs(check, configs, backbone):
    from tlkeras.evaluation.compare import split_config

    if not isinstance(configs, dict) or not configs:
        check.fail("configs", configs, "expected a mapping name -> tlkeras.build/fit arguments")
    for name, config in configs.items():
        key = f"configs.{name}"
        if not isinstance(config, dict):
            check.fail(key, config, "expected a mapping of tlkeras.build/fit arguments")
        rate = config.get("learning_rate", 1e-3)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
            check.fail(f"{key}.learning_rate", rate, "expected a number in (0, 1)")
        try:
            split_config(name, config)
        except ConfigurationError as error:
            raise ConfigurationError(f"{check.source}: {str(error)[:1000]}") from error
        if backbone is None and "backbone" not in config:
            check.fail(
                f"{key}.backbone", None, "no backbone: set 'backbone' at the top or in each config"
            )
        weights = config.get("weights", "auto")
        if weights is not None and not isinstance(weights, str):
            check.fail(
                f"{key}.weights", weights, "expected null (random), 'imagenet', a preset or a path"
            )
        freeze = config.get("freeze", "auto")
        if freeze != "auto" and not isinstance(freeze, (bool, int)):
            check.fail(
                f"{key}.freeze", freeze, "expected auto, true, false or a number of layer groups"
            )
    return configs


def _check_metrics(check, metrics):
    from tlkeras.evaluation import metrics as metrics_lib

    if metrics == "auto":
        return metrics
    names = metrics if isinstance(metrics, list) else [metrics]
    for metric in names:
        try:
            metrics_lib.get(metric)
        except ConfigurationError:
            check.fail("metrics", metric, "unknown metric; see tlkeras.evaluation.metrics.get")
    return names


def load_config_data(data, seed=0):
    """Loads the data a config names: `(train, test, dataset_fn, class_names)`.

    Args:
        data: the checked `data` section of a comparison config.
        seed: seed of the test subsample / split. Defaults to `0`.
    """

    from tlkeras.evaluation.learning_curve_demo import fashion_mnist_dataset_fn

    image_size = data.get("image_size")
    dataset_fn = fashion_mnist_dataset_fn(image_size) if image_size else None
    if data["name"] == "fashion_mnist":
        from tlkeras.data import CLASS_NAMES
        from tlkeras.data import load_fashion_mnist
        from tlkeras.data import subsample

        train = load_fashion_mnist("train", folder=data.get("folder"))
        if data.get("train_per_class"):
            train = subsample(*train, data["train_per_class"], seed=seed)
        test = subsample(
            *load_fashion_mnist("test", folder=data.get("folder")),
            data.get("test_per_class", 100),
            seed=seed,
        )
        return train, test, dataset_fn or fashion_mnist_dataset_fn(28), list(CLASS_NAMES)
    if data["name"] == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        # 0..16 ink levels to the 0..255 pixels image backbones expect
        images = (digits.images * 255 / 16).astype("uint8")
        x, x_test, y, y_test = train_test_split(
            images,
            digits.target,
            test_size=data.get("test_fraction", 0.25),
            stratify=digits.target,
            random_state=seed,
        )
        return (x, y), (x_test, y_test), dataset_fn, [str(d) for d in range(10)]
    return (*_load_npz(data["path"]), dataset_fn, None)


def _load_npz(path):
    """`(x_train, y_train), (x_test, y_test)` from an .npz of plain arrays (never pickles)."""
    import zipfile

    import numpy as np

    names = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in names if k not in arrays]
            if missing:
                raise ConfigurationError(
                    f"data.path: the .npz lacks {missing}. Received: data.path={path!r}"
                )
            x, y, x_test, y_test = (arrays[k] for k in names)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, ConfigurationError):
            raise
        raise ConfigurationError(
            "data.path: not an .npz of plain arrays x_train, y_train, x_test, y_test (object "
            f"arrays are refused: loading them would unpickle) ({str(error)[:300]}). "
            f"Received: data.path={path!r}"
        ) from error
    return (x, y), (x_test, y_test)
