"""The `gcn`, `graphsage` and `gin` backbones registered under `tlkeras.backbones`."""

import keras

from tlkeras_gnn.gcn_conv import GCNConv
from tlkeras_gnn.gin_conv import GINConv
from tlkeras_gnn.graph_backbone import GraphBackbone
from tlkeras_gnn.graph_backbone import graph_inputs
from tlkeras_gnn.graph_batch import EDGE_INDEX
from tlkeras_gnn.graph_batch import NODE_FEATURES
from tlkeras_gnn.sage_conv import SAGEConv

CONVOLUTIONS = {"gcn": GCNConv, "graphsage": SAGEConv, "gin": GINConv}


def message_passing_backbone(
    kind, input_dim=16, hidden_dim=64, num_layers=3, dropout=0.0, weights=None, name=None
):
    """Builds a stack of message-passing layers as a `GraphBackbone`.

    Each layer is `conv -> ReLU -> dropout` (the last one without ReLU and
    dropout, so the embeddings keep their sign) and forms its own layer group,
    input side first, so `freeze(k)` freezes the first `k` hops.

    Args:
        kind: `"gcn"`, `"graphsage"` or `"gin"`.
        input_dim: node feature width. Defaults to `16`.
        hidden_dim: width of every layer and of the node embeddings. Defaults
            to `64`.
        num_layers: message-passing layers (hops). Defaults to `3`.
        dropout: dropout rate between layers. Defaults to `0.0`.
        weights: `None` (random) or a `.weights.h5` file saved from a backbone
            of the same configuration (e.g. after `pretrain_attribute_masking`).
            Defaults to `None`.
        name: model name. Defaults to `kind`.

    Returns:
        A `GraphBackbone` with `modality="graph"`.

    Example:

    ```python
    backbone = message_passing_backbone("gin", input_dim=7, num_layers=5)
    ```
    """
    if kind not in CONVOLUTIONS:
        raise ValueError(
            f"Unknown kind. Received: kind={kind!r}; expected one of {sorted(CONVOLUTIONS)}."
        )
    for arg, value in (("input_dim", input_dim), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be an integer >= 1. Received: {arg}={value!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    # === Functional Model ===
    inputs = graph_inputs(input_dim)
    x, groups = inputs[NODE_FEATURES], []
    for index in range(num_layers):
        conv = CONVOLUTIONS[kind](hidden_dim, name=f"{kind}_conv_{index}")
        group = [conv]
        x = conv(x, inputs[EDGE_INDEX])
        if index < num_layers - 1:
            activation = keras.layers.Activation("relu", name=f"relu_{index}")
            drop = keras.layers.Dropout(dropout, name=f"dropout_{index}")
            x = drop(activation(x))
            group += [activation, drop]
        groups.append(group)
    backbone = GraphBackbone(
        inputs=inputs,
        outputs=x,
        layer_groups=groups,
        weights_source=None if weights is None else str(weights),
        name=name or kind,
    )
    if weights is not None:
        backbone.load_weights(weights)
    return backbone


def gcn(**kwargs):
    """A GCN backbone (Kipf & Welling 2017); see `message_passing_backbone` for arguments."""
    return message_passing_backbone("gcn", **kwargs)


def graphsage(**kwargs):
    """A GraphSAGE-mean backbone (Hamilton et al. 2017); see `message_passing_backbone`."""
    return message_passing_backbone("graphsage", **kwargs)


def gin(**kwargs):
    """A GIN-eps backbone (Xu et al. 2019); see `message_passing_backbone` for arguments."""
    return message_passing_backbone("gin", **kwargs)


for _factory in (gcn, graphsage, gin):
    _factory.modality = "graph"
