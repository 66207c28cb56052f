"""A child process that reads fuzzed files for `test_fuzz_readers.py` and measures each read.

Protocol: one JSON request per stdin line, `{"reader": ..., "path": ...}`;
one JSON reply per stdout line: `outcome` (`"ok"`, `"tlkeras"` for a
`TlkerasError`, `"raw"` for anything else), `error`, `seconds`,
`peak_bytes` (resident high-water mark above the baseline, reset before each
read through `/proc/self/clear_refs`) and `unchanged` (the reader still reads
its genuine file exactly as before). The address space is capped a little
above the baseline, so a file that inflates raises `MemoryError` here
instead of exhausting the machine.

Only the readers' modules are imported (their packages' `__init__` files are
skipped): no TensorFlow start, only Keras for `.keras` archives.
"""

import json
import resource
import sys
import time

from bounded import proc_status
from bounded import stub_package

_HEADROOM = 1 << 30


def _readers():
    import numpy as np

    from tlkeras.evaluation.config import load_yaml
    from tlkeras.saving import load_model
    from tlkeras.weights.torch_checkpoint import load_torch_checkpoint
    from tlkeras.weights.word_vectors import load_word_vectors

    def checkpoint(path):
        state = load_torch_checkpoint(path)
        return {k: (str(v.dtype), v.shape, float(np.nan_to_num(v.astype("float64")).sum()))
                for k, v in state.items()}  # fmt: skip

    def vectors(path):
        loaded = load_word_vectors(path)
        return loaded.words, loaded.vectors.tolist()

    def keras_archive(path):
        return [w.tolist() for w in load_model(path, compile=False).get_weights()]

    return {
        "checkpoint": checkpoint,
        "vectors": vectors,
        "yaml": load_yaml,
        "keras": keras_archive,
    }


def main(root, genuine):
    for package in ("tlkeras.weights", "tlkeras.text", "tlkeras.evaluation", "tlkeras"):
        stub_package(root, package)
    from tlkeras.errors import TlkerasError

    readers = _readers()
    reference = {kind: repr(readers[kind](path)) for kind, path in genuine.items()}
    limit = proc_status("VmSize") + _HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        baseline = proc_status("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        start = time.perf_counter()
        try:
            readers[request["reader"]](request["path"])
            outcome, error = "ok", ""
        except TlkerasError as e:
            outcome, error = "tlkeras", f"{type(e).__name__}: {str(e)[:300]}"
        except BaseException as e:
            outcome, error = "raw", f"{type(e).__name__}: {str(e)[:300]}"
        seconds = time.perf_counter() - start
        peak = proc_status("VmHWM") - baseline
        kind = request["reader"]
        unchanged = repr(readers[kind](genuine[kind])) == reference[kind]
        reply = dict(outcome=outcome, error=error, seconds=seconds, peak_bytes=peak,
                     unchanged=unchanged)  # fmt: skip
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
