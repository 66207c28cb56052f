import pytest

from tlkeras.cli import main


def test_list_shows_backbones_and_their_distributions(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("efficientnet_lite0", "mobilenet_v2", "resnet"):
        line = next(row for row in out.splitlines() if row.startswith(name + " "))
        assert "tlkeras" in line and "tlkeras.backbones." in line


def test_compare_config_errors_name_the_key_and_value(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("backbone: tiny\nepoch: 5\nconfigs:\n  scratch: {weights: null}\n")
    assert main(["compare", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "epoch" in err and "Received: epoch=5" in err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2
