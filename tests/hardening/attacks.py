"""The attacks of issue 22 as files plus the call that reads them (run by `bounded.run_bounded`).

Each `all_attacks(folder)` entry is the keyword arguments of `run_bounded`
(minus `root`); the `call_*` functions below run inside the child process.
"""

import hostile_files as hf
import numpy as np

_WEIGHTS = ("tlkeras.weights",)
_TEXT = ("tlkeras.text",)
_KERAS = ("tlkeras", "tlkeras.evaluation.compare")


def billion_laughs_yaml(levels=9):
    """Nested YAML aliases: 453 bytes that expand to 10**levels strings."""
    lines = ["backbone:", '  - &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"  - &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def nested_brackets_yaml(depth=100_000):
    return "backbone: " + "[" * depth + "]" * depth + "\n"


def binary_vectors_header(header):
    return header + b"\n" + b"word " + np.zeros(3, "<f4").tobytes() + b"\n"


def all_attacks(folder):
    genuine_zip = hf.write_zip(folder / "genuine_zip.pth", hf.genuine_state()[0])
    genuine_legacy = hf.write_legacy(folder / "genuine_legacy.pth", hf.genuine_state()[0])
    poison = folder / "poison.pth"
    hf.write_zip(poison, {}, data_pkl=hf.poisoning_pickle())

    def checkpoint(name, obj, writer=hf.write_zip, **kwargs):
        path = writer(folder / f"{name}.pth", obj, **kwargs)
        return dict(module="attacks", function="call_checkpoint", args=(str(path),), stub=_WEIGHTS)

    def text_file(name, content, function, stub=_TEXT, preload=(), **kwargs):
        path = folder / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return dict(module="attacks", function=function, args=(str(path),), kwargs=kwargs,
                    stub=stub, preload=preload)  # fmt: skip

    npz = folder / "pickled.npz"
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(npz, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    return {
        "1 BUILD poisons FloatStorage": dict(
            module="attacks",
            function="call_poison_then_genuine",
            args=(str(poison), str(genuine_zip), str(genuine_legacy)),
            stub=_WEIGHTS,
        ),
        "2 shared sub-dict DAG, depth 24": checkpoint("dag", hf.shared_subdict_dag(24)),
        "2 self-containing dict": checkpoint("loop", hf.self_containing_dict()),
        "2 stride-0 tensor (800 MB)": checkpoint("stride0", hf.stride_zero()),
        "2 400 names on one storage": checkpoint("alias", hf.aliased_names()),
        "2 deflate bomb 1 GiB (zip)": checkpoint("bomb", hf.deflate_bomb(), compress=True),
        "2 memo index 2**27 (9-byte pickle)": dict(
            module="attacks",
            function="call_checkpoint",
            args=(str(hf.write_zip(folder / "memo.pth", {}, data_pkl=hf.memo_index_pickle())),),
            stub=_WEIGHTS,
        ),
        "3 YAML alias bomb": text_file(
            "bomb.yaml", billion_laughs_yaml(), "call_config", stub=(), preload=_KERAS
        ),
        "3 YAML 100k nested brackets": text_file(
            "deep.yaml", nested_brackets_yaml(), "call_config", stub=(), preload=_KERAS
        ),
        "4 word vectors: non-numeric value": text_file(
            "bad.txt", "the 0.1 0.2\nof 0.3 abc\n", "call_vectors"
        ),
        "4 word2vec .bin: dim 10**12": text_file(
            "huge.bin", binary_vectors_header(b"1 1000000000000"), "call_vectors"
        ),
        "4 word2vec .bin: count 10**12": text_file(
            "many.bin", binary_vectors_header(b"1000000000000 3"), "call_vectors"
        ),
        "4 word2vec .bin: negative dim": text_file(
            "neg.bin", binary_vectors_header(b"1 -3"), "call_vectors"
        ),
        "4 word2vec .bin: non-numeric dim": text_file(
            "nan.bin", binary_vectors_header(b"1 three"), "call_vectors"
        ),
        "4 data.path .npz with pickles": dict(
            module="attacks", function="call_npz", args=(str(npz),), stub=(), preload=_KERAS
        ),
        "4 word_vectors backbone bad file": text_file(
            "backbone.txt", "the 0.1 0.2\nof 0.3 abc\n", "call_backbone", stub=(), preload=_KERAS
        ),
    }


# === Run in the child ===


def call_checkpoint(path):
    from tlkeras.weights.torch_checkpoint import load_torch_checkpoint

    state = load_torch_checkpoint(path)
    # The views' own sizes; what they hold in memory is the peak column.
    return f"{len(state)} tensors of {sum(v.nbytes for v in state.values())} bytes in all"


def call_poison_then_genuine(poison, genuine_zip, genuine_legacy):
    from tlkeras.weights.torch_checkpoint import load_torch_checkpoint

    try:
        load_torch_checkpoint(poison)
    except Exception as error:
        first = type(error).__name__
    else:
        first = "loaded"
    expected = hf.genuine_state()[1]
    for path in (genuine_zip, genuine_legacy):
        state = load_torch_checkpoint(path)
        for key, value in expected.items():
            if state[key].dtype != value.dtype or not np.array_equal(state[key], value):
                raise AssertionError(f"after the poison file ({first}), {key} reads {state[key]}")
    return f"poison file: {first}; genuine files read correctly afterwards"


def call_config(path):
    from tlkeras.evaluation.config import load_comparison_config

    return load_comparison_config(path)


def call_vectors(path):
    from tlkeras.weights.word_vectors import load_word_vectors

    return load_word_vectors(path)


def call_npz(path):
    from tlkeras.evaluation.config import load_config_data

    return load_config_data({"name": "npz", "path": path})


def call_backbone(path):
    import tlkeras

    return tlkeras.get_backbone("word_vectors", weights=path)
