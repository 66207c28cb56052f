"""`tlkeras.build`: stitch a backbone to new heads through a bottleneck."""

import contextlib
import inspect

import keras

from tlkeras import distribution as distribution_lib
from tlkeras import heads as heads_lib
from tlkeras import precision
from tlkeras.backbones.lookup import get_backbone
from tlkeras.errors import ConfigurationError
from tlkeras.layers.bottleneck import Bottleneck
from tlkeras.layers.sequence_pooling import SequencePooling
from tlkeras.transfer_model import TransferModel

POOLINGS = ("avg", "max", "cls", "last")
FEATURE_NORMS = (None, "l2")


def build(
    backbone,
    head="classifier",
    *,
    num_classes=None,
    class_names=None,
    bottleneck=None,
    dropout=0.0,
    weights="auto",
    freeze="auto",
    input_shape=None,
    heads=None,
    pooling="avg",
    feature_norm=None,
    compile=True,
    name=None,
    strategy=None,
    loss_weights=None,
    mixed_precision="auto",
    jit_compile="auto",
    distribution=None,
    domain_adaptation=None,
    **backbone_kwargs,
):
    """Builds a transfer model: backbone -> pooling -> bottleneck -> head(s).

    Args:
        backbone: a registered name (see `tlkeras.list_backbones()`), a
            `tlkeras.Backbone`, or a functional `keras.Model` outputting features.
        head: `"classifier"` (alias `"classify"`), `"regressor"`, a name added
            with `tlkeras.heads.register_head`, or a `keras.layers.Layer`.
            Defaults to `"classifier"`.
        num_classes: classes of a classifier head (an int >= 2), or a dict
            task -> int with `heads=`. `None` sizes a classifier head from
            `class_names`, else from the labels of the first `fit()` (integer
            ids: `max + 1`; one-hot rows: their width; a dataset from
            `keras.utils.image_dataset_from_directory`: its `class_names`);
            `predict()` before that raises an error saying so. Defaults to
            `None`.
        class_names: the class names of a classifier head, in label order
            (a list, or a dict task -> list with `heads=`); they size the
            head and are saved with it. Defaults to `None`.
        bottleneck: `None`, an int, or a list of ints: Dense -> BatchNorm ->
            ReLU -> dropout blocks between backbone and head, its own layer
            group. Defaults to `None`.
        dropout: dropout rate in the bottleneck blocks and before each head.
            Defaults to `0.0`.
        weights: passed to the backbone factory; `"auto"` keeps the factory's
            default (pretrained where available). Defaults to `"auto"`.
        freeze: `"auto"` freezes the backbone when it has pretrained weights
            (feature extraction, BatchNorm in inference mode) and trains
            everything otherwise; `True`/`False`; or an int `k` to freeze the
            first `k` layer groups. Defaults to `"auto"`.
        input_shape: passed to the backbone factory when given. Left out,
            image CNNs take any size, `(None, None, 3)`; ViT needs a fixed
            size. Defaults to `None`.
        heads: a dict task name -> head (string or layer) for multi-task
            models; overrides `head`. Defaults to `None`.
        pooling: `"avg"` or `"max"` global pooling of feature maps; over a
            token sequence, the mean or max over real (unpadded) tokens,
            `"cls"`: the first token, or `"last"`: the last real token (for
            causal models such as `"gpt2"`). Defaults to `"avg"`.
        feature_norm: `"l2"` scales each example's pooled features to unit
            length before the bottleneck and heads (a frozen ImageNet
            backbone's feature norm varies with the image's contrast and
            size, not its class; measured on few-shot Fashion-MNIST in
            docs/evaluation.md), or `None`. Defaults to `None`.
        compile: compile with "auto" optimizer, loss and metrics, so `fit()`
            works at once. Defaults to `True`.
        name: model name. Defaults to `None` (derived from the backbone).
        strategy: a fine-tuning strategy instead of `freeze`: a name
            (`"feature_extraction"`, `"partial"`, `"full"`, `"gradual"`,
            `"discriminative"`, `"lora"`), a `tlkeras.strategies.Strategy`, or
            a list of them; see `TransferModel.configure`. Defaults to `None`.
        loss_weights: with several heads, a dict task -> weight of its loss
            in the total, passed to `compile`. Defaults to `None` (all 1).
        mixed_precision: `"auto"` builds under `"mixed_bfloat16"` on a GPU
            with native bfloat16 (compute capability >= 8.0) and float32
            elsewhere; `True`, `False`, or a Keras policy name. Heads stay
            float32. Defaults to `"auto"`.
        jit_compile: XLA compilation of the train step, passed to `compile`:
            `"auto"` lets Keras compile with XLA where the backend and device
            support it (a GPU, not a CPU); `True` or `False` force it.
            Defaults to `"auto"`.
        distribution: a `tf.distribute.Strategy` (`MirroredStrategy` for the
            GPUs of one machine, `MultiWorkerMirroredStrategy` across
            machines) to build and compile under; `fit()` then splits each
            global batch across its replicas, and BatchNorm layers use
            synchronised statistics. `None` uses the strategy whose scope is
            active, if any. See `tlkeras.distribution`. Defaults to `None`.
        domain_adaptation: `"dann"`, `"mmd"` or `"coral"` to return the model
            wrapped for unsupervised domain adaptation (a
            `tlkeras.domain.DomainAdaptationModel`, trained with `fit()` on
            `tlkeras.domain.pair_datasets(...)`), or a dict of its arguments,
            e.g. `{"method": "dann", "discriminator_units": [256]}`. Needs a
            `bottleneck` (the aligned features) and one head. Defaults to
            `None`.
        **backbone_kwargs: passed to the backbone factory (e.g. `variant="b3"`).

    Returns:
        A compiled `tlkeras.TransferModel`; with `domain_adaptation`, a
        compiled `DomainAdaptationModel` whose `task_model` is that model.

    Example:

    ```python
    model = tlkeras.build("efficientnet_lite0", num_classes=5, bottleneck=256)
    model.fit(train_ds, validation_data=val_ds, epochs=3)
    ```
    """
    adaptation = _domain_adaptation_arguments(domain_adaptation, bottleneck, heads)
    policy = precision.resolve_policy(mixed_precision)
    replicas = distribution_lib.resolve_distribution(distribution)
    with contextlib.ExitStack() as scopes:
        if policy != keras.config.dtype_policy().name:
            scopes.enter_context(precision.policy_scope(policy))
        if replicas is not None:
            # Variables (the optimizer's too, made in compile) must be created
            # under the strategy for it to mirror them.
            scopes.enter_context(replicas.scope())
        if replicas is not None and isinstance(backbone, keras.Model):
            backbone = distribution_lib.ensure_created_under(backbone, replicas)
        model = _build(
            backbone,
            head,
            num_classes=num_classes,
            class_names=class_names,
            bottleneck=bottleneck,
            dropout=dropout,
            weights=weights,
            freeze=freeze,
            input_shape=input_shape,
            heads=heads,
            pooling=pooling,
            feature_norm=feature_norm,
            compile=compile,
            name=name,
            strategy=strategy,
            loss_weights=loss_weights,
            jit_compile=jit_compile,
            backbone_kwargs=backbone_kwargs,
        )
        if distribution_lib.num_replicas(replicas) > 1:
            distribution_lib.synchronize_batchnorm(model)
        if adaptation is not None:
            _require_sized_heads(model, domain_adaptation)
            model = _wrap_for_domain_adaptation(model, adaptation, compile, jit_compile)
    return model


def _domain_adaptation_arguments(value, bottleneck, heads):
    """build(domain_adaptation=...) as DomainAdaptationModel arguments, checked before building."""
    if value is None:
        return None
    from tlkeras.domain.domain_adaptation_model import METHODS
    from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel

    methods = [m for m in METHODS if m is not None]
    arguments = {"method": value} if isinstance(value, str) else value
    if not isinstance(arguments, dict) or arguments.get("method") not in methods:
        raise ConfigurationError(
            f"domain_adaptation must be one of {methods}, a dict with a 'method' among "
            f"them (and DomainAdaptationModel arguments), or None. "
            f"Received: domain_adaptation={value!r}"
        )
    allowed = set(inspect.signature(DomainAdaptationModel.__init__).parameters) - {
        "self",
        "task_model",
        "kwargs",
    }
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise ConfigurationError(
            f"Unknown domain adaptation arguments {unknown}; expected some of "
            f"{sorted(allowed)}. Received: domain_adaptation={value!r}"
        )
    if heads is not None:
        raise ConfigurationError(
            "Domain adaptation trains one head. Received: domain_adaptation="
            f"{value!r} with heads={sorted(heads) if isinstance(heads, dict) else heads!r}"
        )
    if bottleneck is None and "features" not in arguments:
        raise ConfigurationError(
            "Domain adaptation aligns the bottleneck features: pass bottleneck=, e.g. "
            f"bottleneck=256. Received: domain_adaptation={value!r}, bottleneck=None"
        )
    return dict(arguments)


def _require_sized_heads(model, domain_adaptation):
    # The domain adaptation wrapper trains with its own step, which sizes no head.
    if any(getattr(head, "sized", True) is False for head in model.heads.values()):
        raise ConfigurationError(
            "Domain adaptation needs the classifier's num_classes when building. "
            f"Received: num_classes=None with domain_adaptation={domain_adaptation!r}"
        )


def _wrap_for_domain_adaptation(model, arguments, compile, jit_compile):
    from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel

    wrapper = DomainAdaptationModel(model, **arguments)
    if compile:
        wrapper.compile(jit_compile=jit_compile)
    return wrapper


def _build(
    backbone,
    head,
    *,
    num_classes,
    class_names,
    bottleneck,
    dropout,
    weights,
    freeze,
    input_shape,
    heads,
    pooling,
    feature_norm,
    compile,
    name,
    strategy,
    loss_weights,
    jit_compile,
    backbone_kwargs,
):
    _check_arguments(
        pooling=pooling, feature_norm=feature_norm, dropout=dropout, input_shape=input_shape,
        compile=compile, name=name, jit_compile=jit_compile,
    )  # fmt: skip
    if input_shape is not None:
        backbone_kwargs["input_shape"] = tuple(input_shape)
    if weights != "auto":
        backbone_kwargs["weights"] = weights
    backbone = get_backbone(backbone, **backbone_kwargs)
    head_layers = _head_layers(
        heads if heads is not None else {None: head}, num_classes, class_names, dropout
    )
    _check_modalities(head_layers, backbone, heads if heads is not None else head)

    # === Functional Model ===
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name),
        backbone._inputs_struct,
    )
    features = backbone(inputs)
    top_groups = []
    x = features
    if any(getattr(layer, "pooled", True) for layer in head_layers.values()):
        x = _pool(x, pooling)
        if feature_norm == "l2":
            x = keras.layers.UnitNormalization(name="feature_norm")(x)
    if bottleneck is not None:
        block = Bottleneck(bottleneck, dropout=dropout, name="bottleneck")
        x = block(x)
        top_groups.append([block.name])
    outputs = {}
    for task, layer in head_layers.items():
        source = x if getattr(layer, "pooled", True) else features
        # Heads that read the batch structure (graph ids of a graph batch) get the inputs.
        extra = {"model_inputs": inputs} if getattr(layer, "uses_model_inputs", False) else {}
        outputs[task] = layer(source, **extra)
        top_groups.append([layer.name])
    if list(outputs) == [None]:
        outputs = outputs[None]
    model = TransferModel(
        inputs=inputs,
        outputs=outputs,
        top_groups=top_groups,
        name=name or f"{backbone.name}_transfer",
    )

    # === Training state ===
    if strategy is None:
        _apply_freeze(model, freeze)
    elif freeze != "auto":
        raise ConfigurationError(
            "Pass freeze= or strategy=, not both: a strategy sets what is frozen. "
            f"Received: freeze={freeze!r}, strategy={strategy!r}"
        )
    else:
        model.configure(strategy)
    if loss_weights is not None and not compile:
        raise ConfigurationError(
            "loss_weights apply when build() compiles the model; pass them to "
            f"compile() instead. Received: loss_weights={loss_weights!r}, compile=False"
        )
    if loss_weights is not None:
        _check_loss_weights(loss_weights, [task for task in head_layers if task is not None])
    if compile:
        model.compile(loss_weights=loss_weights, jit_compile=jit_compile)
    return model


def _check_arguments(pooling, feature_norm, dropout, input_shape, compile, name, jit_compile):
    """Checks build()'s own scalar arguments before anything is built."""
    if pooling not in POOLINGS:
        raise ConfigurationError(
            f"Unknown pooling. Received: pooling={pooling!r}; expected one of {POOLINGS}."
        )
    if not (
        feature_norm is None or (isinstance(feature_norm, str) and feature_norm in FEATURE_NORMS)
    ):
        raise ConfigurationError(
            f"Unknown feature_norm. Received: feature_norm={feature_norm!r}; expected one of "
            f"{FEATURE_NORMS}."
        )
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0.0 <= float(dropout) < 1.0
    ):
        raise ConfigurationError(
            f"dropout must be a number in [0, 1). Received: dropout={dropout!r}"
        )
    if input_shape is not None and (
        not isinstance(input_shape, (tuple, list))
        or not input_shape
        or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1)
            for d in input_shape
        )
    ):
        raise ConfigurationError(
            "input_shape must be a tuple of positive ints (or None for a free dimension), "
            f"without the batch dimension, e.g. (224, 224, 3). Received: input_shape={input_shape!r}"
        )
    if not isinstance(compile, bool):
        raise ConfigurationError(f"compile must be True or False. Received: compile={compile!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(
            f"name must be a non-empty string or None. Received: name={name!r}"
        )
    if jit_compile not in ("auto", True, False):
        raise ConfigurationError(
            f"jit_compile must be 'auto', True or False. Received: jit_compile={jit_compile!r}"
        )


def _check_loss_weights(loss_weights, tasks):
    if not tasks:
        raise ConfigurationError(
            "loss_weights weigh the losses of several heads (build(..., heads={...})); this "
            f"model has one head. Received: loss_weights={loss_weights!r}"
        )
    if not isinstance(loss_weights, dict) or not set(loss_weights) <= set(tasks):
        raise ConfigurationError(
            f"loss_weights must be a dict mapping some of the tasks {tasks} to weights. "
            f"Received: loss_weights={loss_weights!r}"
        )
    for task, weight in loss_weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ConfigurationError(
                f"A loss weight must be a number >= 0. Received: loss_weights[{task!r}]={weight!r}"
            )


def _check_modalities(head_layers, backbone, received):
    for layer in head_layers.values():
        fits = getattr(layer, "modalities", None)
        if fits is not None and backbone.modality not in fits:
            raise ConfigurationError(
                f"The head {layer.name!r} ({type(layer).__name__}) fits {' or '.join(fits)} "
                f"backbones; {backbone.name!r} is an {backbone.modality!r} backbone. "
                f"Received: head={received!r}"
            )


def _head_layers(specs, num_classes, class_names, dropout):
    if not isinstance(specs, dict) or not specs:
        raise ConfigurationError(
            f"heads must be a non-empty dict of task name -> head. Received: heads={specs!r}"
        )
    layers = {}
    for task, spec in specs.items():
        classes = num_classes.get(task) if isinstance(num_classes, dict) else num_classes
        names = class_names.get(task) if isinstance(class_names, dict) else class_names
        kwargs = {}
        head_class = heads_lib.get_class(spec) if isinstance(spec, str) else None
        # Subclasses too: plugin heads (node, graph classifiers) take num_classes.
        if head_class is not None and issubclass(head_class, heads_lib.ClassifierHead):
            if classes is None and names is None and not _sized_by_fit(head_class):
                where = f" for head {task!r}" if task else ""
                raise ConfigurationError(
                    f"A {head_class.__name__} needs num_classes{where}: its labels are not "
                    "one per example, so fit() cannot size it. Received: num_classes=None; "
                    "pass an integer >= 2, e.g. tlkeras.build(..., num_classes=5)."
                )
            kwargs["num_classes"] = classes
            if names is not None:
                kwargs["class_names"] = names
        if isinstance(spec, str):
            kwargs["dropout"] = dropout
            kwargs["name"] = task or "head"
        layers[task] = heads_lib.get(spec, **kwargs)
    names = [layer.name for layer in layers.values()]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"Head layers need distinct names. Received: {names}")
    return layers


def _sized_by_fit(head_class):
    # One label per example: fit() can read the number of classes from them.
    return (
        getattr(head_class, "sized_from_labels", False)
        and head_class.pooled
        and not head_class.uses_model_inputs
    )


def _pool(x, pooling):
    rank = len(x.shape)
    if rank == 4:
        if pooling in ("cls", "last"):
            raise ConfigurationError(
                f"pooling={pooling!r} takes one token of a sequence; these features are "
                f"feature maps of shape {tuple(x.shape[1:])}. Received: pooling={pooling!r}"
            )
        layer = (
            keras.layers.GlobalAveragePooling2D
            if pooling == "avg"
            else keras.layers.GlobalMaxPooling2D
        )
    elif rank == 3:
        # Reads the sequence's padding mask (text backbones set it).
        return SequencePooling(pooling, name="pool")(x)
    else:
        return x
    return layer(name="pool")(x)


def _apply_freeze(model, freeze):
    if freeze == "auto":
        freeze = model.backbone.weights_source is not None
    if freeze is True:
        model.freeze()
    elif freeze is False:
        model.unfreeze()
    elif isinstance(freeze, int):
        model.freeze(freeze)
    else:
        raise ConfigurationError(
            f"Unknown freeze. Received: freeze={freeze!r}; expected 'auto', True, "
            "False, or an int number of layer groups."
        )
