"""musicnn's original TF1 graph, run from its checkpoint, to check the Keras rebuild against.

The wheel's `.meta` file holds the training graph; its inference part (input
placeholder to the flattened last pool and the tag sigmoids) is cut out,
imported into a TF1-style graph, and its variables are set from the
checkpoint. Only tests use it.
"""

import numpy as np


def tf1_vgg_features(folder, patches):
    """Runs the original `MTT_vgg`/`MSD_vgg` graph on log-mel patches.

    Args:
        folder: the checkpoint folder (`tlkeras_audio.weights.musicnn_checkpoint_folder()`).
        patches: float32 `(n, 187, 96)` log-compressed mel patches.

    Returns:
        `(features (n, 256), tags (n, 50))` with `is_training=False`.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((folder / ".meta").read_bytes())
    graph_def = meta.graph_def
    for node in graph_def.node:
        # Shapes recorded by the 2019 TensorFlow disagree with today's gradient ops.
        node.attr.pop("_output_shapes", None)
        node.device = ""
    outputs = ["model/Flatten/flatten/Reshape", "model/Sigmoid"]
    inference = tf.compat.v1.graph_util.extract_sub_graph(graph_def, outputs)
    reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(inference, name="")
        assignments = [
            tf.compat.v1.assign(graph.get_tensor_by_name(f"{n.name}:0"), reader.get_tensor(n.name))
            for n in inference.node
            if n.op == "VariableV2"
        ]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(assignments)
            feeds = {
                graph.get_tensor_by_name("model/Placeholder:0"): np.asarray(patches, np.float32),
                graph.get_tensor_by_name("model/Placeholder_2:0"): False,
            }
            features, tags = session.run([f"{name}:0" for name in outputs], feeds)
    return features, tags
