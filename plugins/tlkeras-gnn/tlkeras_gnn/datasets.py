"""Real graphs that need no network: Zachary's karate club and the WordNet synset graph."""

import os

import numpy as np

from tlkeras.data.wordnet_glosses import SUPERSENSES  # noqa: F401 (re-exported: label names)
from tlkeras.data.wordnet_glosses import WORDNET_DIR
from tlkeras.data.wordnet_glosses import WORDNET_FILES
from tlkeras_gnn.graph_batch import EDGE_INDEX
from tlkeras_gnn.graph_batch import NODE_FEATURES
from tlkeras_gnn.graph_batch import from_networkx
from tlkeras_gnn.graph_batch import induced_subgraph

# Pointer part-of-speech letters -> data file (satellite adjectives live in data.adj).
POINTER_FILES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


def karate_club():
    """Zachary's karate club (34 members, 78 friendships) with its real 2-club split.

    Node features are one-hot member ids (the usual featureless setting).

    Returns:
        `(graph, labels)`: a single-graph dict and `(34,)` int labels, 1 for
        the members who joined the Officer's club.

    Example:

    ```python
    graph, labels = karate_club()
    ```
    """
    import networkx as nx

    graph = nx.karate_club_graph()
    labels = np.array([graph.nodes[n]["club"] == "Officer" for n in graph.nodes], "int32")
    return from_networkx(graph, node_features=np.eye(len(graph), dtype="float32")), labels


def wordnet_graph(feature_dim=256, directory=WORDNET_DIR):
    """The WordNet 3.0 synset graph: 117,659 synsets linked by their pointers.

    Nodes are synsets; an edge joins two synsets whenever one has a pointer
    (hypernym, hyponym, meronym, antonym, derivation, ...) to the other,
    stored in both directions. A node's label is its lexicographer file
    (supersense, 45 classes, named in `SUPERSENSES`). Node features are the synset's part
    of speech (4 one-hot columns) followed by a hashed, L2-normalised bag of
    words of its gloss and lemmas (`feature_dim - 4` columns).

    Args:
        feature_dim: node feature width, > 4. Defaults to `256`.
        directory: folder with `data.noun`, `data.verb`, `data.adj`,
            `data.adv` (format: `man 5 wndb`). Defaults to
            `"/usr/share/wordnet"`.

    Returns:
        `(graph, labels)`: a single-graph dict and `(num_synsets,)` int labels.

    Example:

    ```python
    graph, labels = wordnet_graph()
    graph["edge_index"].shape  # (2, num_edges)
    ```
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim <= 4:
        raise ValueError(
            f"feature_dim must be an integer > 4. Received: feature_dim={feature_dim!r}"
        )
    missing = [f for f in WORDNET_FILES if not os.path.exists(os.path.join(directory, f"data.{f}"))]
    if missing:
        raise FileNotFoundError(
            f"WordNet data files are missing (apt-get install wordnet-base). Received: "
            f"directory={directory!r}; missing data.{missing[0]}"
        )
    index, labels, parts, texts, pointers = {}, [], [], [], []
    for part, name in enumerate(WORDNET_FILES):
        with open(os.path.join(directory, f"data.{name}"), encoding="latin-1") as lines:
            for line in lines:
                if line.startswith("  "):  # the license header
                    continue
                fields, _, gloss = line.partition(" | ")
                tokens = fields.split()
                index[(name, tokens[0])] = len(labels)
                labels.append(int(tokens[1]))
                parts.append(part)
                word_count = int(tokens[3], 16)
                lemmas = tokens[4 : 4 + 2 * word_count : 2]
                texts.append(" ".join(lemmas).replace("_", " ") + " " + gloss)
                start = 4 + 2 * word_count
                for p in range(int(tokens[start])):
                    _, offset, pos, _ = tokens[start + 1 + 4 * p : start + 5 + 4 * p]
                    pointers.append((len(labels) - 1, (POINTER_FILES[pos], offset)))
    senders = np.array([s for s, _ in pointers], "int64")
    receivers = np.array([index[target] for _, target in pointers], "int64")
    # Undirected and without duplicates: (u, v) and (v, u) once each.
    keys = np.unique(
        np.concatenate([senders * len(labels) + receivers, receivers * len(labels) + senders])
    )
    keys = keys[keys // len(labels) != keys % len(labels)]
    edge_index = np.stack([keys // len(labels), keys % len(labels)]).astype("int32")
    hashed = HashingVectorizer(n_features=feature_dim - 4, alternate_sign=False, norm="l2")
    features = np.concatenate(
        [np.eye(4, dtype="float32")[parts], hashed.transform(texts).toarray().astype("float32")],
        axis=1,
    )
    return {NODE_FEATURES: features, EDGE_INDEX: edge_index}, np.asarray(labels, "int32")


def few_label_split(labels, per_class, seed=0):
    """A 0/1 train mask with `per_class` random nodes of each class (all of a smaller class).

    Example:

    ```python
    train_mask = few_label_split(labels, per_class=5)
    ```
    """
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), "float32")
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        mask[rng.permutation(members)[:per_class]] = 1.0
    return mask


def neighbourhood_sample(graph, labels, num_seeds, seed=0):
    """Random seed nodes plus all their neighbours: a subgraph that keeps local structure.

    Sampling nodes uniformly would cut most edges (WordNet's mean degree is
    about 3); taking every neighbour of each seed keeps the seeds' one-hop
    neighbourhoods whole.

    Args:
        graph: a single-graph dict.
        labels: `(num_nodes,)` node labels.
        num_seeds: how many seed nodes to draw.
        seed: random seed. Defaults to `0`.

    Returns:
        `(subgraph, sublabels)`.

    Example:

    ```python
    graph, labels = neighbourhood_sample(*wordnet_graph(), num_seeds=5000)
    ```
    """
    rng = np.random.default_rng(seed)
    seeds = rng.choice(len(labels), size=num_seeds, replace=False)
    senders, receivers = graph["edge_index"]
    nodes = np.union1d(seeds, receivers[np.isin(senders, seeds)])
    return induced_subgraph(graph, nodes), labels[nodes]
