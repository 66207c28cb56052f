"""Runs a reader on one file in a child process, under a time and memory cap, and measures it.

A hostile file may exhaust memory or hang: running it in the test process
would take the runner (and a shared machine) down with it. The child imports
only the reader's module (its packages' `__init__` files are skipped, so no
TensorFlow start unless the reader needs Keras), resets its peak-RSS mark
(`/proc/self/clear_refs`), runs the call and reports the seconds, the peak
RSS above the baseline and the outcome. The parent kills it past the caps.

Also a script: `python tests/hardening/bounded.py ROOT [WORD...]` measures every attack
of issue 22 (those whose name holds a WORD) with the tlkeras tree at ROOT
(old or new code).
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

_CHILD = """
import importlib, json, sys, time
sys.path.append({helpers!r})
from bounded import proc_status, stub_package
for package in {stub!r}:
    stub_package({root!r}, package)
for name in {preload!r}:
    importlib.import_module(name)
module = importlib.import_module({module!r})
baseline = proc_status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
start = time.perf_counter()
try:
    result = getattr(module, {function!r})(*{args!r}, **{kwargs!r})
    outcome, message = "ok", repr(result)[:200]
except BaseException as error:
    outcome, message = type(error).__name__, str(error)
seconds = time.perf_counter() - start
print(json.dumps(dict(outcome=outcome, message=message[:2000], message_chars=len(message),
                      seconds=seconds, peak_bytes=proc_status("VmHWM") - baseline)))
"""


def stub_package(root, package):
    """Makes `package` (and its parents) importable from `root` without running their `__init__`.

    tlkeras's `__init__` imports everything (Keras, TensorFlow); a reader's
    own module needs none of it.
    """
    parts = package.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [os.path.join(root, *parts[:i])]
            sys.modules[name] = module


def proc_status(field, pid="self"):
    """A byte count from `/proc/<pid>/status` (`VmRSS`, `VmHWM`, `VmSize`), or 0."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def run_bounded(
    root, module, function, args=(), kwargs=None, timeout=60, max_rss=3 << 30, stub=(),
    preload=(),
):  # fmt: skip
    """Calls `module.function(*args, **kwargs)` in a child; returns a dict of measurements.

    Args:
        root: the folder that holds the `tlkeras` package to test.
        module, function: what to call, e.g. `"tlkeras.weights.torch_checkpoint"`.
        args, kwargs: plain-data arguments.
        timeout: seconds before the child is killed. Defaults to `60`.
        max_rss: resident bytes before the child is killed. Defaults to 3 GiB.
        stub: packages whose `__init__` is skipped, e.g. `("tlkeras.weights",)`
            (the module helpers of this folder are importable too).
            Defaults to `()`.
        preload: modules imported before the measurement starts (a Keras
            start is not the reader's cost). Defaults to `()`.

    Returns:
        `outcome` (`"ok"`, the exception's class name, `"timeout"` or
        `"memory cap"`), `message`, `seconds`, `peak_bytes`.
    """
    code = _CHILD.format(
        root=str(root), module=module, function=function, args=tuple(args),
        kwargs=kwargs or {}, stub=tuple(stub), helpers=str(Path(__file__).parent),
        preload=tuple(preload),
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=root,  # `python -c` puts the working folder first on sys.path
    )
    start = time.monotonic()
    killed, peak = None, 0
    while child.poll() is None:
        try:
            rss = proc_status("VmRSS", child.pid)
        except OSError:
            rss = 0
        peak = max(peak, rss)
        if rss > max_rss:
            killed = "memory cap"
        elif time.monotonic() - start > timeout + 30:  # + the child's own start
            killed = "timeout"
        if killed:
            child.kill()
            child.wait()
            return dict(outcome=killed, message="", seconds=time.monotonic() - start,
                        peak_bytes=peak)  # fmt: skip
        time.sleep(0.02)
    output = child.stdout.read().decode()
    if child.returncode != 0 or not output.strip():
        return dict(outcome=f"exit {child.returncode}", message=output[-2000:], seconds=None,
                    peak_bytes=peak)  # fmt: skip
    report = json.loads(output.strip().splitlines()[-1])
    if report["seconds"] > timeout:
        report["outcome"] = "timeout"
    return report


def describe(report):
    peak = report["peak_bytes"] / (1 << 20)
    seconds = "-" if report["seconds"] is None else f"{report['seconds']:.2f} s"
    return f"{report['outcome']:<24} {seconds:>9} {peak:9.1f} MiB"


if __name__ == "__main__":
    # Measures every attack against the tree at sys.argv[1]; prints a table.
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    import attacks

    root = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as folder:
        for name, call in attacks.all_attacks(Path(folder)).items():
            if len(sys.argv) > 2 and not any(word in name for word in sys.argv[2:]):
                continue
            report = run_bounded(root, **call)
            print(f"{name:<34} {describe(report)}  {textwrap.shorten(report['message'], 90)}")
            sys.stdout.flush()
