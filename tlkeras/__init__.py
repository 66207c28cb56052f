"""tlkeras: transfer learning for Keras 3 with plugin backbones.

```python
import tlkeras
model = tlkeras.build("efficientnet_lite0", head="classifier", num_classes=5, bottleneck=256)
model.fit(train_ds, validation_data=val_ds, epochs=3)
```

`import tlkeras` imports neither Keras nor TensorFlow, so `tlkeras --help` and
`tlkeras list` answer at once. The first use of any public name below imports
the whole public API (registering every serializable class, so a saved model
loads with `keras.models.load_model` afterwards too).
"""

import importlib
import importlib.util
import sys
import types

__version__ = "0.1.0"

# Public name -> (module, attribute); attribute None: the module itself.
_PUBLIC = {
    "analysis": ("tlkeras.analysis", None),
    "callbacks": ("tlkeras.callbacks", None),
    "domain": ("tlkeras.domain", None),
    "errors": ("tlkeras.errors", None),
    "evaluation": ("tlkeras.evaluation", None),
    "heads": ("tlkeras.heads", None),
    "layers": ("tlkeras.layers", None),
    "optimizers": ("tlkeras.optimizers", None),
    "precision": ("tlkeras.precision", None),
    "strategies": ("tlkeras.strategies", None),
    "text": ("tlkeras.text", None),
    "Backbone": ("tlkeras.backbones.backbone", "Backbone"),
    "build": ("tlkeras.builder", "build"),
    "get_backbone": ("tlkeras.builder", "get_backbone"),
    "compare": ("tlkeras.evaluation", "compare"),
    "fit_cached": ("tlkeras.feature_cache", "fit_cached"),
    "load_preset": ("tlkeras.pretrain", "load_preset"),
    "pretrain": ("tlkeras.pretrain", "pretrain"),
    "register_preset": ("tlkeras.pretrain", "register_preset"),
    "save_preset": ("tlkeras.pretrain", "save_preset"),
    "fine_tune": ("tlkeras.recipes", "fine_tune"),
    "backbone_info": ("tlkeras.registry", "backbone_info"),
    "list_backbones": ("tlkeras.registry", "list_backbones"),
    "register_backbone": ("tlkeras.registry", "register_backbone"),
    "unregister_backbone": ("tlkeras.registry", "unregister_backbone"),
    "load_model": ("tlkeras.saving", "load_model"),
    "save_model": ("tlkeras.saving", "save_model"),
    "export": ("tlkeras.serving", "export"),
    "rank_backbones": ("tlkeras.ranking", "rank_backbones"),
    "TransferModel": ("tlkeras.transfer_model", "TransferModel"),
}

__all__ = sorted(_PUBLIC)


def _load_public_api():
    from tlkeras.native_logs import import_backend_quietly

    import_backend_quietly()
    for name, (module_name, attribute) in _PUBLIC.items():
        module = importlib.import_module(module_name)
        globals()[name] = module if attribute is None else getattr(module, attribute)


def __getattr__(name):
    if name in _PUBLIC and _PUBLIC[name][1] is not None:
        _load_public_api()
        return globals()[name]
    # A submodule, public (`tlkeras.heads`) or not (`tlkeras.registry`), is
    # imported alone: `from tlkeras import heads` inside tlkeras itself must not
    # import the whole API (that would import the importing module again).
    # Any other submodule (`tlkeras.registry`, `tlkeras.weights`) is imported
    # alone, as `import tlkeras` eagerly did before: the registry stays light.
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tlkeras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # Importing a submodule binds it on its parent: without this,
        # `from tlkeras.pretrain import X` before any public name is used
        # would make `tlkeras.pretrain` the package instead of the function.
        if isinstance(value, types.ModuleType) and _PUBLIC.get(name, (None, None))[1]:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
