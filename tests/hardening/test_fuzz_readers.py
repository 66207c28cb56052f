"""Property-based fuzzing of the file readers: a tlkeras error or a correct load, cheaply, and no reader changed.

Hypothesis mutates valid files (PyTorch checkpoints in both layouts, word2vec
text and binary files, YAML configs, `.keras` archives) and the hostile
structures of issue 22 (shared sub-dicts, a self-containing dict, stride-0
and aliased views, deflated storages, YAML aliases). Each mutant is read in
a worker process (`fuzz_worker.py`, address space capped) that measures the
read's time and peak memory and re-reads the genuine file to prove the
reader is unchanged. The examples are derandomized, so a failure reproduces
(`TLKERAS_FUZZ_RANDOM=1` explores new ones); the default suite runs about a
minute (`TLKERAS_FUZZ_READER_EXAMPLES` scales it, `-m slow` runs ten times
more).
"""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import attacks
import hostile_files as hf
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("TLKERAS_FUZZ_READER_EXAMPLES", 40))
# Per read, on a shared 2-core runner: generous against noise, far below any blow-up.
SECONDS, PEAK_BYTES = 5.0, 64 << 20
FUZZ = dict(
    deadline=None,
    # The same mutants every run, so a failure reproduces; TLKERAS_FUZZ_RANDOM=1
    # explores new ones (a failure prints the mutant to add as a regression test).
    derandomize=os.environ.get("TLKERAS_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rezip(members, compress=False):
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """`{reader: [seed bytes, ...]}` plus the genuine file each reader re-reads."""
    folder = tmp_path_factory.mktemp("seeds")
    state, _ = hf.genuine_state()
    checkpoints = [
        hf.write_zip(folder / "zip.pth", state),
        hf.write_legacy(folder / "legacy.pth", state),
        hf.write_zip(folder / "dag.pth", hf.shared_subdict_dag(12)),
        hf.write_zip(folder / "loop.pth", hf.self_containing_dict()),
        hf.write_zip(folder / "stride0.pth", hf.stride_zero(1000)),
        hf.write_zip(folder / "alias.pth", hf.aliased_names(20, 100)),
        hf.write_zip(folder / "deflated.pth", hf.deflate_bomb(1 << 16), compress=True),
        hf.write_zip(folder / "poison.pth", {}, data_pkl=hf.poisoning_pickle()),
    ]
    words = ["the", "of", "and", "to"]
    vectors = np.arange(12, dtype="<f4").reshape(4, 3) / 7
    text = "4 3\n" + "".join(
        f"{w} {' '.join(map(str, v))}\n" for w, v in zip(words, vectors, strict=True)
    )
    binary = b"4 3\n" + b"".join(
        w.encode() + b" " + v.tobytes() + b"\n" for w, v in zip(words, vectors, strict=True)
    )
    configs = [p.read_bytes() for p in sorted((ROOT / "examples").rglob("*.yaml"))[:3]]
    configs += [
        b"backbone: mobilenet_v2\ndata: {name: digits}\nconfigs: {a: &c {weights: null}, b: *c}\n",
        attacks.billion_laughs_yaml(4).encode(),
        attacks.nested_brackets_yaml(60).encode(),
    ]
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.save(folder / "tiny.keras")
    genuine = {
        "checkpoint": str(checkpoints[0]),
        "vectors": str(folder / "genuine.txt"),
        "yaml": str(folder / "genuine.yaml"),
        "keras": str(folder / "tiny.keras"),
    }
    Path(genuine["vectors"]).write_text(text)
    Path(genuine["yaml"]).write_bytes(configs[-3])
    # (bytes, suffix): the suffix tells the word-vector reader which format to read.
    files = {
        "checkpoint": [(p.read_bytes(), ".pth") for p in checkpoints],
        "vectors": [(text.encode(), ".txt"), (binary, ".bin")],
        "yaml": [(c, ".yaml") for c in configs],
        "keras": [((folder / "tiny.keras").read_bytes(), ".keras")],
    }
    return files, genuine


@pytest.fixture(scope="module")
def worker(seeds):
    _, genuine = seeds
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fuzz_worker.py")), str(ROOT),
         json.dumps(genuine)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert json.loads(process.stdout.readline()) == {"ready": True}
    yield process
    process.stdin.close()
    process.wait(timeout=60)


def _read(worker, reader, path):
    worker.stdin.write(json.dumps({"reader": reader, "path": str(path)}) + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    assert line, f"the worker died reading {path} (a crash or the memory cap)"
    return json.loads(line)


@st.composite
def mutations(draw, data):
    """`data` with 1-4 random edits: flipped, inserted, deleted, repeated or cut bytes."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "cut", "digit"]))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "repeat":
            chunk = data[at : at + draw(st.integers(1, 32))]
            data[at:at] = chunk * draw(st.integers(1, 50))
        elif kind == "cut":
            del data[at:]
        elif kind == "digit" and data:
            # Declared sizes and counts are digits or packed ints: make them huge.
            data[at : at + 1] = draw(st.sampled_from([b"9" * 12, b"\xff" * 8, b"-", b"0"]))
    return bytes(data)


@st.composite
def mutants(draw, files, reader):
    """`(bytes, suffix)`: a seed of `reader`, mutated."""
    seed, suffix = draw(st.sampled_from(files[reader]))
    if seed[:2] == b"PK" and draw(st.booleans()):
        # Structure-aware: mutate one member (the pickle, a storage, the
        # config or weights of a .keras) and zip it again, maybe deflated.
        members = _zip_members(seed)
        name = draw(st.sampled_from(sorted(members)))
        members[name] = draw(mutations(members[name]))
        return _rezip(members, compress=draw(st.booleans())), suffix
    return draw(mutations(seed)), suffix


def _check(report, path):
    assert report["outcome"] in ("ok", "tlkeras"), (path, report)
    assert report["seconds"] < SECONDS, (path, report)
    assert report["peak_bytes"] < PEAK_BYTES, (path, report)
    assert report["unchanged"], (path, report)


def _fuzz(files, worker, folder, reader, examples):
    @settings(max_examples=max(1, examples), **FUZZ)
    @given(mutants(files, reader))
    def run(mutant):
        content, suffix = mutant
        path = folder / f"mutant{suffix}"
        path.write_bytes(content)
        _check(_read(worker, reader, path), path)

    run()


@pytest.mark.parametrize(
    "reader, share", [("checkpoint", 1.0), ("vectors", 0.5), ("yaml", 0.5), ("keras", 0.25)]
)
def test_mutated_files_give_a_tlkeras_error_or_a_load_cheaply(
    seeds, worker, tmp_path, reader, share
):
    _fuzz(seeds[0], worker, tmp_path, reader, int(EXAMPLES * share))


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["checkpoint", "vectors", "yaml", "keras"])
def test_many_more_mutants(seeds, worker, tmp_path, reader):
    _fuzz(seeds[0], worker, tmp_path, reader, EXAMPLES * 10)
