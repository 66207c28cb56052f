import importlib.metadata
import sys
import textwrap
import warnings

import pytest

import tlkeras
from tlkeras import registry
from tlkeras.errors import PluginError
from tlkeras.errors import UnknownBackboneError

FIRST_PARTY = {"efficientnet", "efficientnet_lite0", "mobilenet_v2", "mobilenet_v3", "resnet"}


def test_first_party_backbones_come_through_entry_points():
    infos = {entry.name: entry for entry in tlkeras.backbone_info()}
    assert FIRST_PARTY <= set(infos)
    for name in FIRST_PARTY:
        assert infos[name].distribution == "tlkeras"
        assert infos[name].target.startswith("tlkeras.backbones.")


def test_listing_imports_no_backbone_module():
    code = (
        "import sys, tlkeras; tlkeras.list_backbones(); "
        "print([m for m in sys.modules if m.startswith('tlkeras.backbones.') "
        "and m not in ('tlkeras.backbones.backbone', 'tlkeras.backbones.lookup')])"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_typo_names_received_value_close_matches_and_how_to_list():
    with pytest.raises(UnknownBackboneError) as info:
        tlkeras.build("efficentnet", num_classes=3)
    message = str(info.value)
    assert "Received: backbone='efficentnet'" in message
    assert "'efficientnet'" in message
    assert "list_backbones" in message
    assert isinstance(info.value, ValueError)


def test_register_backbone_in_process_and_unregister():
    @tlkeras.register_backbone("tiny_registered", modality="image")
    def factory(input_shape=(8, 8, 3), **kwargs):
        from tiny import tiny_cnn

        return tiny_cnn(input_shape)

    try:
        assert "tiny_registered" in tlkeras.list_backbones()
        assert "tiny_registered" in tlkeras.list_backbones(modality="image")
        backbone = tlkeras.get_backbone("tiny_registered")
        assert isinstance(backbone, tlkeras.Backbone)
        assert backbone.modality == "image"
    finally:
        tlkeras.unregister_backbone("tiny_registered")
    assert "tiny_registered" not in tlkeras.list_backbones()


def _fake_distribution(root, dist_name, module_name, module_source, entry_points):
    """Writes an importable module and a .dist-info that declares entry points."""
    (root / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{dist_name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[tlkeras.backbones]\n{lines}\n")


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.refresh()
    yield tmp_path
    registry.refresh()


def test_broken_plugin_warns_on_use_and_never_breaks_others(plugin_path):
    _fake_distribution(
        plugin_path,
        "broken-plugin",
        "broken_plugin_mod",
        "raise ImportError('missing dependency foo')\n",
        {"broken_net": "broken_plugin_mod:factory"},
    )
    assert "broken_net" in tlkeras.list_backbones()  # listing imports nothing
    # Listing by modality imports the plugins: the broken one warns once, by name.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "broken_net" not in tlkeras.list_backbones(modality="image")
        tlkeras.list_backbones(modality="image")
    messages = [str(w.message) for w in caught if "broken_net" in str(w.message)]
    assert len(messages) == 1 and "broken-plugin" in messages[0]
    with pytest.raises(PluginError) as info:
        tlkeras.get_backbone("broken_net")
    message = str(info.value)
    assert "broken_net" in message and "broken-plugin" in message
    assert "missing dependency foo" in message
    assert "tlkeras.backbones.keras_applications" not in message
    # Other backbones still build.
    assert tlkeras.get_backbone("mobilenet_v3", weights=None, input_shape=(32, 32, 3))


def test_plugin_returning_wrong_type_is_named(plugin_path):
    _fake_distribution(
        plugin_path,
        "odd-plugin",
        "odd_plugin_mod",
        "def factory(**kwargs):\n    return 42\n",
        {"odd_net": "odd_plugin_mod:factory"},
    )
    with pytest.raises(PluginError, match="odd_net.*odd-plugin.*returned int"):
        tlkeras.get_backbone("odd_net")


def test_duplicate_name_warns_naming_both_and_first_party_wins(plugin_path):
    _fake_distribution(
        plugin_path,
        "shadow-plugin",
        "shadow_plugin_mod",
        "def factory(**kwargs):\n    raise RuntimeError('should not be used')\n",
        {"resnet": "shadow_plugin_mod:factory"},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = tlkeras.list_backbones()
    assert "resnet" in names
    messages = [str(w.message) for w in caught]
    assert any("'shadow-plugin'" in m and "'tlkeras'" in m for m in messages), messages
    entry = registry.get_entry("resnet")
    assert entry.distribution == "tlkeras"


def test_disable_plugins_by_name_and_all_third_party(plugin_path, monkeypatch):
    _fake_distribution(
        plugin_path,
        "extra-plugin",
        "extra_plugin_mod",
        "def factory(**kwargs):\n    return None\n",
        {"extra_net": "extra_plugin_mod:factory"},
    )
    assert "extra_net" in tlkeras.list_backbones()
    monkeypatch.setenv("TLKERAS_DISABLE_PLUGINS", "extra_net")
    assert "extra_net" not in tlkeras.list_backbones()
    with pytest.raises(UnknownBackboneError, match="disabled by TLKERAS_DISABLE_PLUGINS"):
        tlkeras.get_backbone("extra_net")
    monkeypatch.setenv("TLKERAS_DISABLE_PLUGINS", "*")
    names = tlkeras.list_backbones()
    assert "extra_net" not in names
    assert FIRST_PARTY <= set(names)  # '*' turns off third-party plugins only


def test_entry_points_metadata_is_what_the_registry_reads():
    group = importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP)
    assert FIRST_PARTY <= {ep.name for ep in group}
