"""WordNet glosses labelled with their supersense (45 classes), from Debian `wordnet-base`."""

import os

import numpy as np

WORDNET_DIR = "/usr/share/wordnet"
WORDNET_FILES = ("noun", "verb", "adj", "adv")
# The 45 lexicographer files ("supersenses"), indexed by lex_filenum (`man 5 lexnames`).
SUPERSENSES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()


def load_wordnet_glosses(directory=WORDNET_DIR, include_lemmas=False):
    """Every synset's gloss (definition and examples) and its supersense.

    Args:
        directory: where `data.noun`, `data.verb`, `data.adj` and `data.adv`
            live (`apt-get install wordnet-base`). Defaults to
            `"/usr/share/wordnet"`.
        include_lemmas: prefix each gloss with the synset's words, which
            makes the task much easier. Defaults to `False`.

    Returns:
        `(texts, labels)`: a NumPy object array of 117,659 strings and an
        int array of supersense ids (names in `SUPERSENSES`).

    Example:

    ```python
    texts, labels = load_wordnet_glosses()
    SUPERSENSES[labels[0]], texts[0]
    ```
    """
    missing = [f for f in WORDNET_FILES if not os.path.exists(os.path.join(directory, f"data.{f}"))]
    if missing:
        raise FileNotFoundError(
            "WordNet data files are missing (apt-get install wordnet-base). Received: "
            f"directory={directory!r}; missing data.{missing[0]}"
        )
    texts, labels = [], []
    for name in WORDNET_FILES:
        with open(os.path.join(directory, f"data.{name}"), encoding="latin-1") as lines:
            for line in lines:
                if line.startswith("  "):  # the license header
                    continue
                fields, _, gloss = line.partition(" | ")
                tokens = fields.split()
                labels.append(int(tokens[1]))
                if include_lemmas:
                    lemmas = tokens[4 : 4 + 2 * int(tokens[3], 16) : 2]
                    gloss = " ".join(lemmas).replace("_", " ") + ": " + gloss
                texts.append(gloss.strip())
    return np.array(texts, dtype=object), np.array(labels, dtype="int64")
