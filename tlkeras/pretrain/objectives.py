"""The objective registry: which pre-training model serves `objective=` for a modality.

An objective is a factory `factory(backbone, seed=None, **kwargs)` returning a
`keras.Model` that holds the backbone as `.backbone` and trains with `fit()` on
unlabeled batches (no targets). Image and text objectives are built in (text:
keras-hub's masked-LM and causal-LM tasks, through `tlkeras.text`); graph
objectives come from the `tlkeras-gnn` plugin (imported when first used); other
modalities register theirs with `register_objective`.
"""

import importlib
import threading

from tlkeras.backbones.backbone import HOW_TO_DECLARE
from tlkeras.errors import ConfigurationError

_lock = threading.RLock()
# (modality, name) -> a factory, or "module:attr" imported on first use.
_OBJECTIVES = {
    ("image", "contrastive"): "tlkeras.pretrain.simclr:SimCLR",
    ("image", "reconstruction"): "tlkeras.pretrain.masked_reconstruction:MaskedReconstruction",
    ("text", "masked_lm"): "tlkeras.text.language_model_pretrainer:masked_lm",
    ("text", "next_token"): "tlkeras.text.language_model_pretrainer:next_token",
    ("graph", "contrastive"): "tlkeras_gnn.graph_contrastive:GraphContrastive",
    ("graph", "attribute_masking"): "tlkeras_gnn.attribute_masking:AttributeMasking",
}


def register_objective(name, modality):
    """Registers a pre-training objective for backbones of one modality.

    Args:
        name: the name `tlkeras.pretrain(..., objective=name)` accepts.
        modality: `"image"`, `"text"`, `"graph"` or `"other"`: the
            `Backbone.modality` it applies to.

    Example:

    ```python
    @register_objective("span_corruption", modality="text")
    def span_corruption(backbone, seed=None, span_length=3):
        return SpanCorruptionPretrainer(backbone, span_length=span_length, seed=seed)
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"An objective name must be a non-empty string. Received: name={name!r}")

    def decorator(factory):
        if not callable(factory):
            raise TypeError(
                f"register_objective decorates a class or factory. Received: {factory!r}"
            )
        with _lock:
            _OBJECTIVES[(modality, name)] = factory
        return factory

    return decorator


def list_objectives(modality=None):
    """Sorted names of the objectives for `modality` (all, as `(modality, name)`, for `None`)."""
    with _lock:
        keys = list(_OBJECTIVES)
    if modality is None:
        return sorted(keys)
    return sorted(name for key_modality, name in keys if key_modality == modality)


def _objectives_by_modality():
    by_modality = {}
    for modality, name in list_objectives():
        by_modality.setdefault(modality, []).append(name)
    return "; ".join(f"{m}: {', '.join(names)}" for m, names in sorted(by_modality.items()))


def get_objective(name, modality):
    """The factory registered as `name` for `modality`, imported if needed."""
    with _lock:
        factory = _OBJECTIVES.get((modality, name))
    if factory is None:
        known = ", ".join(repr(n) for n in list_objectives(modality))
        known = f"expected one of {known}" if known else f"no objective exists for {modality!r}"
        hint = ""
        if name in {n for _, n in list_objectives()}:
            hint = (
                f" {name!r} exists for other modalities; if this backbone is one of them, "
                f"say so. {HOW_TO_DECLARE}"
            )
        raise ConfigurationError(
            f"Unknown objective for a {modality!r} backbone. Received: objective={name!r}; "
            f"{known}. Objectives by modality: "
            f"{_objectives_by_modality()}.{hint} Other objectives register with "
            f"register_objective(name, modality={modality!r})."
        )
    if isinstance(factory, str):
        module_name, attribute = factory.split(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except ImportError as error:
            raise ConfigurationError(
                f"The objective {name!r} for {modality!r} backbones needs the package "
                f"{module_name.split('.')[0]!r} (pip install plugins/tlkeras-gnn for graphs). "
                f"Received: objective={name!r}; {error}"
            ) from error
    return factory
