import os
import re
import subprocess
import sys

import pytest

from tlkeras.cli import main

# A C++ log line of TensorFlow/absl ("I0000 00:00:...", "E0000 ...") or its start-up notice.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|oneDNN", re.M)


def test_list_shows_backbones_and_their_distributions(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("efficientnet_lite0", "mobilenet_v2", "resnet"):
        line = next(row for row in out.splitlines() if row.startswith(name + " "))
        assert "tlkeras" in line and "tlkeras.backbones." in line


def test_list_fills_modality_input_and_weights_licences_from_the_metadata(capsys):
    assert main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert rows["efficientnet_lite0"].split()[1:5] == ["image", "(None,", "None,", "3)"]
    assert "imagenet (Apache-2.0)" in rows["efficientnet_lite0"]
    assert rows["bert"].split()[1] == "text"
    assert "all-minilm-l6-v2 (Apache-2.0)" in rows["bert"]


@pytest.mark.parametrize("argv", [["--help"], ["list"]])
def test_help_and_list_import_no_tensorflow_and_print_no_tf_log_lines(argv):
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in ('tensorflow', 'keras', "
        "'numpy', 'tlkeras_gnn', 'tlkeras_example_plugin') if m in sys.modules)))\n"
        "from tlkeras.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED []"
    assert not TF_LOG_LINE.search(out.stderr + out.stdout), out.stderr


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
