"""Fortune-cookie quotes labelled with their category, from Debian `fortunes` / `fortunes-min`."""

import os

import numpy as np

FORTUNES_DIR = "/usr/share/games/fortunes"
# Categories of drawings, not text.
_SKIPPED = ("art", "ascii-art")


def load_fortunes(directory=FORTUNES_DIR, min_count=150, max_words=80):
    """Every fortune of every category with at least `min_count` of them.

    Args:
        directory: the fortune files, entries separated by lines holding `%`
            (`apt-get install fortunes fortunes-min`). Defaults to
            `"/usr/share/games/fortunes"`.
        min_count: drop categories with fewer fortunes. Defaults to `150`.
        max_words: drop longer fortunes (dialogues, poems). Defaults to `80`.

    Returns:
        `(texts, labels, categories)`: a NumPy object array of strings, an int
        array of category ids, and the category names (sorted).

    Example:

    ```python
    texts, labels, categories = load_fortunes()
    categories[labels[0]], texts[0]
    ```
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "No fortune files (apt-get install fortunes fortunes-min). "
            f"Received: directory={directory!r}"
        )
    by_category = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if "." in name or name in _SKIPPED or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as file:
            entries = [" ".join(e.split()) for e in file.read().split("\n%\n")]
        entries = [e for e in entries if e and e != "%" and len(e.split()) <= max_words]
        if len(entries) >= min_count:
            by_category[name] = entries
    categories = sorted(by_category)
    texts = [text for name in categories for text in by_category[name]]
    labels = [index for index, name in enumerate(categories) for _ in by_category[name]]
    return np.array(texts, dtype=object), np.array(labels, dtype="int64"), categories
