"""Gathers and segment reductions over an edge list, in `keras.ops` (any backend)."""

from keras import ops


def num_rows(x):
    """The leading size of `x`: a Python int when static (JAX), else a tensor (TF graphs)."""
    return ops.shape(x)[0]


def propagate(values, edge_index, num_nodes, reduce="sum", edge_weights=None):
    """Sends `values[sender]` along every edge and reduces them at each receiver.

    Args:
        values: `(num_nodes, d)` node values.
        edge_index: `(2, num_edges)` int: senders in row 0, receivers in row 1.
        num_nodes: number of receivers (rows of the result).
        reduce: `"sum"` or `"mean"` (a node without in-edges gets zeros).
            Defaults to `"sum"`.
        edge_weights: optional `(num_edges,)` factors for the messages.

    Returns:
        `(num_nodes, d)` aggregated messages.
    """
    senders, receivers = edge_index[0], edge_index[1]
    messages = ops.take(values, senders, axis=0)
    if edge_weights is not None:
        messages = messages * edge_weights[:, None]
    total = ops.segment_sum(messages, receivers, num_segments=num_nodes)
    if reduce == "sum":
        return total
    if reduce == "mean":
        return total / ops.maximum(in_degree(edge_index, num_nodes, total.dtype), 1.0)[:, None]
    raise ValueError(f"Unknown reduce. Received: reduce={reduce!r}; expected 'sum' or 'mean'.")


def in_degree(edge_index, num_nodes, dtype="float32"):
    """How many edges arrive at each node, `(num_nodes,)`."""
    ones = ops.ones_like(edge_index[1], dtype=dtype)
    return ops.segment_sum(ones, edge_index[1], num_segments=num_nodes)


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of `(n, 1)` logits within each segment (e.g. the nodes of one graph)."""
    # Shift by each segment's max for stability; every gathered segment is non-empty.
    maxima = ops.segment_max(logits, segment_ids, num_segments=num_segments)
    weights = ops.exp(logits - ops.take(maxima, segment_ids, axis=0))
    totals = ops.segment_sum(weights, segment_ids, num_segments=num_segments)
    return weights / ops.take(totals, segment_ids, axis=0)


def safe_segment_max(values, segment_ids, num_segments):
    """`segment_max` with empty segments set to 0 (TF gives -3.4e38 there, JAX -inf)."""
    maxima = ops.segment_max(values, segment_ids, num_segments=num_segments)
    counts = ops.segment_sum(ops.ones_like(segment_ids, "float32"), segment_ids, num_segments)
    return ops.where(counts[:, None] > 0, maxima, ops.zeros_like(maxima))
