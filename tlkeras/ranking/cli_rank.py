"""`tlkeras rank CONFIG.yaml`: a backbone ranking from a config file to a report folder.

```yaml
candidates:
  - efficientnet_lite0
  - mobilenet_v2
  - mobilenet_v2: {weights: null}        # a registered name with its arguments
data: {name: fashion_mnist, image_size: 64, train_per_class: 50}
methods: [logme, leep, nce, hscore, linear_probe]
max_examples: 500
```
"""

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation.config import _check_data
from tlkeras.evaluation.config import _Checker

DEFAULTS = dict(
    candidates=None, data=None, methods=None, max_examples=None, batch_size=32, seed=0, build={}
)


def load_rank_config(source):
    """Loads and checks a ranking config (a YAML file path or a dict).

    Args:
        source: a path to a YAML file, or a dict with the same content.

    Returns:
        A dict with every key of `DEFAULTS` filled in and `candidates` as a
        list of names and `(name, kwargs)` pairs.

    Raises:
        ConfigurationError: an unknown key, a bad value or a missing
            `candidates` / `data`, named with the value received.
    """
    import yaml

    from tlkeras.ranking.backbone_ranking import DEFAULT_METHODS
    from tlkeras.ranking.backbone_ranking import METHODS

    if isinstance(source, dict):
        raw, name = source, "config"
    else:
        with open(source) as f:
            raw, name = yaml.safe_load(f), str(source)
    check = _Checker(name)
    if not isinstance(raw, dict):
        check.fail("<file>", raw, "expected a mapping of keys to values")
    for key, value in raw.items():
        if key not in DEFAULTS:
            check.unknown(key, value, DEFAULTS)
    config = {**DEFAULTS, **raw}
    config["candidates"] = _candidates(check, config["candidates"])
    config["data"] = _check_data(check, config["data"])
    methods = config["methods"] or list(DEFAULT_METHODS)
    if not isinstance(methods, list) or any(m not in METHODS for m in methods):
        check.fail("methods", methods, f"expected a list of {list(METHODS)}")
    config["methods"] = methods
    if config["max_examples"] is not None:
        check.integer("max_examples", config["max_examples"], 2)
    check.integer("batch_size", config["batch_size"], 1)
    check.integer("seed", config["seed"], 0)
    if not isinstance(config["build"], dict):
        check.fail("build", config["build"], "expected a mapping of backbone arguments")
    return config


def _candidates(check, candidates):
    if not isinstance(candidates, list) or not candidates:
        check.fail("candidates", candidates, "expected a non-empty list of backbone names")
    result = []
    for i, entry in enumerate(candidates):
        if isinstance(entry, str):
            result.append(entry)
        elif isinstance(entry, dict) and len(entry) == 1:
            ((backbone, kwargs),) = entry.items()
            if not isinstance(kwargs, dict):
                check.fail(f"candidates[{i}].{backbone}", kwargs, "expected a mapping of arguments")
            result.append((str(backbone), dict(kwargs)))
        else:
            check.fail(f"candidates[{i}]", entry, "expected a backbone name or {name: {arguments}}")
    return result


def cli_rank(config_path, out_dir, verbose=1):
    """Ranks the candidates a YAML config names and writes the report folder.

    Args:
        config_path: path of the YAML config.
        out_dir: the run folder to write (replaced if it exists).
        verbose: progress output of `rank_backbones`. Defaults to `1`.

    Returns:
        The `RankingReport`.

    Example:

    ```python
    cli_rank("rank.yaml", "runs/rank")  # what `tlkeras rank rank.yaml` runs
    ```
    """
    from tlkeras.evaluation.config import load_config_data
    from tlkeras.ranking.backbone_ranking import rank_backbones
    from tlkeras.ranking.ranking_report import RankingReport

    config = load_rank_config(config_path)
    (x, y), _, dataset_fn, _ = load_config_data(config["data"], seed=config["seed"])
    build = dict(config["build"])
    image_size = config["data"].get("image_size")
    if image_size and "input_shape" not in build:
        build["input_shape"] = (image_size, image_size, 3)
    input_shape = build.pop("input_shape", None)
    if build:
        candidates = [
            (c, dict(build)) if isinstance(c, str) else (c[0], {**build, **c[1]})
            for c in config["candidates"]
        ]
    else:
        candidates = config["candidates"]
    if len(set(map(str, candidates))) != len(candidates):
        raise ConfigurationError(
            f"{config_path}: a candidate is listed twice. Received: candidates={candidates!r}"
        )
    ranking = rank_backbones(
        candidates,
        (x, y),
        methods=tuple(config["methods"]),
        input_shape=input_shape,
        max_examples=config["max_examples"],
        batch_size=config["batch_size"],
        dataset_fn=dataset_fn,
        seed=config["seed"],
        verbose=verbose,
    )
    ranking.attrs["settings"]["config_path"] = str(config_path)
    report = RankingReport(ranking, title=f"tlkeras rank {config_path}")
    path = report.save(out_dir, overwrite=True)
    print(report.to_markdown())
    print(f"\nRun folder: {path}")
    return report
