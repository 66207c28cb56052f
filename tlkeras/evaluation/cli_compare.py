"""`tlkeras compare CONFIG.yaml`: a comparison from a config file to a report folder."""


def cli_compare(config_path, out_dir, verbose=1):
    """Runs the comparison a YAML config describes and writes its report folder.

    The config is checked before anything trains (errors name the bad key and
    value, see `tlkeras.evaluation.config.load_comparison_config`). Keras prints its
    progress; the Markdown table is printed at the end. The run folder holds
    the results, the figures, the config file as given, the seeds and the
    package versions.

    Args:
        config_path: path of the YAML config.
        out_dir: the run folder to write (replaced if it exists).
        verbose: `1`: a `run k/N` line per run; `2`: Keras' epoch lines too.
            Defaults to `1`.

    Returns:
        The `tlkeras.evaluation.Report`.

    Example:

    ```python
    cli_compare("compare.yaml", "runs/lite0")  # what `tlkeras compare compare.yaml` runs
    ```
    """
    import yaml

    from tlkeras.evaluation.compare import compare
    from tlkeras.evaluation.config import load_comparison_config
    from tlkeras.evaluation.config import load_config_data
    from tlkeras.evaluation.report import Report

    config = load_comparison_config(config_path)
    train, test, dataset_fn, class_names = load_config_data(config["data"])
    build_kwargs = dict(config["build"])
    if config["data"].get("image_size") and "input_shape" not in build_kwargs:
        # Images are resized to data.image_size RGB; the backbone is built to match.
        build_kwargs["input_shape"] = (config["data"]["image_size"],) * 2 + (3,)
    results = compare(
        config["configs"],
        train,
        None if config["cv"] else test,
        backbone=config["backbone"],
        fractions=config["fractions"],
        shots=config["shots"],
        seeds=config["seeds"],
        steps=config["steps"],
        epochs=config["epochs"],
        early_stopping=config["early_stopping"],
        validation_split=config["validation_split"],
        cv=config["cv"],
        metrics=config["metrics"],
        batch_size=config["batch_size"],
        dataset_fn=dataset_fn,
        class_names=class_names,
        precise_bn=config["precise_bn"],
        tune=config["tune"],
        max_trials=config["max_trials"],
        baselines=config["baselines"],
        reference=config["reference"],
        verbose=verbose,
        **build_kwargs,
    )
    with open(config_path) as f:
        results.attrs["settings"]["config_file"] = yaml.safe_load(f)
    results.attrs["settings"]["config_path"] = str(config_path)
    results.attrs["settings"]["rerun"] = f"tlkeras compare {config_path} --out {out_dir}"
    report = Report(results, title=f"tlkeras compare {config_path}")
    path = report.save(out_dir, overwrite=True)
    print(report.to_markdown())
    print(f"\nRun folder: {path}")
    return report
