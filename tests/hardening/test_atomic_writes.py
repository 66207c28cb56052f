"""Nothing half-written: a crash mid-write leaves the previous good file, folder or checkpoint."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import keras
import pandas as pd
import pytest
from resume_helpers import mlp_data
from resume_helpers import mlp_model

from tlkeras.callbacks import ResumableTraining
from tlkeras.evaluation import Report
from tlkeras.weights import cache
from tlkeras.weights import package_index

CACHE_MODULE = os.path.abspath(cache.__file__)

# Loads tlkeras/weights/cache.py alone (stdlib only, no TensorFlow: starts in
# a blink), publishes a good file and folder, then starts to overwrite both
# and waits to be killed half way.
WRITER = textwrap.dedent(
    """
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("cache", sys.argv[1])
    cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cache)
    folder = cache.Path(sys.argv[2])
    with cache.atomic_write(folder / "entry.bin") as f:
        f.write(b"good" * 1000)
    with cache.atomic_directory(folder / "preset") as tmp:
        (tmp / "config.json").write_text('{"good": true}')
    with cache.atomic_write(folder / "entry.bin") as f:
        f.write(b"new!" * 500)
        f.flush()
        with cache.atomic_directory(folder / "preset.next") as tmp:
            (tmp / "config.json").write_text('{"good": fal')
            print("half way", flush=True)
            time.sleep(60)
    """
)


def test_sigkill_inside_a_write_leaves_the_previous_file(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, CACHE_MODULE, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "half way"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / "entry.bin").read_bytes() == b"good" * 1000
    assert (tmp_path / "preset" / "config.json").read_text() == '{"good": true}'
    assert not (tmp_path / "preset.next").exists()
    # What the kill left is under hidden temporary names, never a final one.
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["entry.bin", "preset"]


def fit_one_epoch(folder, epochs=1):
    model = mlp_model()
    model.compile(optimizer="adam")
    x, y = mlp_data(n=16)
    callback = ResumableTraining(folder, delete_checkpoint=False)
    history = model.fit(
        x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback]
    )
    return model, history


def test_checkpoint_write_failing_half_way_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    fit_one_epoch(str(folder))
    good = folder / "epoch-00001-batch-000000"
    before = {p.name: p.read_bytes() for p in good.iterdir()}

    def half_written(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n half of a weights file")
        raise OSError("No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", half_written)
    with pytest.raises(OSError, match="No space left"):
        fit_one_epoch(str(folder), epochs=2)
    monkeypatch.undo()

    assert os.listdir(folder) == [good.name]  # no partial checkpoint, no temporary
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before
    _, history = fit_one_epoch(str(folder), epochs=2)
    assert history.epoch == [1]  # resumed from the surviving checkpoint


def test_report_save_failing_half_way_keeps_the_previous_run_folder(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    Report(pd.DataFrame(), settings={"seed": 0}, title="first").save(run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    def half_written(self, folder):
        self.results.to_csv(os.path.join(folder, "results.csv"), index=False)
        raise OSError("disk full")

    monkeypatch.setattr(Report, "_write", half_written)
    with pytest.raises(OSError, match="disk full"):
        Report(pd.DataFrame({"a": [1]}), settings={"seed": 1}).save(run_dir, overwrite=True)
    assert {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    assert sorted(os.listdir(tmp_path)) == ["run"]


def _fill(wheel, log, queue):
    try:
        queue.put(
            str(package_index.fetch_wheel("demo-weights", "1.0", wheel_file=wheel, verify=False))
        )
    except BaseException as error:  # reported to the parent, not lost in the child
        queue.put(f"error: {error!r}")


def test_two_processes_filling_one_cache_entry_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    wheel = tmp_path / "demo_weights-1.0-py3-none-any.whl"
    payload = os.urandom(1 << 20)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo_weights/model.bin", payload)
        archive.writestr("demo_weights/config.json", '{"layers": 3}')
    log = tmp_path / "unpacked_by.log"
    unzip = package_index._safe_unzip

    def slow_unzip(wheel_file, folder):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # both processes are now inside fetch_wheel at once
        unzip(wheel_file, folder)

    monkeypatch.setattr(package_index, "_safe_unzip", slow_unzip)
    # Forked: the children inherit the patched module and need no TensorFlow start.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_fill, args=(wheel, log, queue)) for _ in range(2)]
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=30)

    assert results[0] == results[1], results
    entry = tmp_path / "cache" / "wheels" / "demo-weights-1.0"
    assert results[0] == str(entry)
    assert (entry / "demo_weights" / "model.bin").read_bytes() == payload
    assert (entry / "demo_weights" / "config.json").read_text() == '{"layers": 3}'
    # One process unpacked; the other waited on the lock and found the entry.
    assert len(log.read_text().split()) == 1
    leftovers = [p.name for p in entry.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
