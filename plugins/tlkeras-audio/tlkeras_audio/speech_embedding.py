"""Google's speech_embedding CNN (Lin et al. 2020) rebuilt in Keras, and its weight conversion.

The architecture is read off `embedding_model.tflite` (openWakeWord's copy,
shipped in the `wyoming-openwakeword` wheel): on a 76 x 32 log-mel window,
20 convolutions (3x1 in time with "valid" padding, 1x3 in frequency with
"same" padding, the first one 3x3 after padding frequency by one on each
side), each followed by LeakyReLU(0.2) and `max(x, -0.4)` except the last,
five max-pools, and a 96-d output. BatchNorm is folded into the biases.
"""

import warnings

import keras

# (kernel, filters) of every convolution, max-pools as ("pool", size).
LAYOUT = (
    ((3, 3), 24),
    ((1, 3), 24),
    ((3, 1), 24),
    ("pool", (2, 2)),
    ((1, 3), 48),
    ((3, 1), 48),
    ((1, 3), 48),
    ((3, 1), 48),
    ("pool", (1, 2)),
    ((1, 3), 72),
    ((3, 1), 72),
    ((1, 3), 72),
    ((3, 1), 72),
    ("pool", (2, 2)),
    ((1, 3), 96),
    ((3, 1), 96),
    ((1, 3), 96),
    ((3, 1), 96),
    ("pool", (1, 2)),
    ((1, 3), 96),
    ((3, 1), 96),
    ((1, 3), 96),
    ((3, 1), 96),
    ("pool", (2, 2)),
    ((3, 1), 96),
)
EMBEDDING_DIM = 96
LEAKY_SLOPE = 0.2
# The original clips every LeakyReLU output from below at this value.
ACTIVATION_FLOOR = -0.4


def embedding_layers(dtype=None):
    """Returns the layers of the embedding CNN, in order, grouped into 5 stages.

    Each stage ends with its max-pool; the last stage also holds the final
    (linear) convolution and the flatten to 96 features.

    Args:
        dtype: dtype policy passed to every layer. Defaults to `None`.

    Returns:
        A list of 5 lists of Keras layers.
    """
    stages, current, conv_index = [], [], 0
    current.append(keras.layers.ZeroPadding2D(((0, 0), (1, 1)), name="embedding_pad", dtype=dtype))
    num_convs = sum(1 for spec in LAYOUT if spec[0] != "pool")
    for spec in LAYOUT:
        if spec[0] == "pool":
            current.append(
                keras.layers.MaxPooling2D(
                    spec[1], name=f"embedding_pool_{len(stages)}", dtype=dtype
                )
            )
            stages.append(current)
            current = []
            continue
        kernel, filters = spec
        # 1x3 frequency convolutions keep the size, time (and the first) ones do not.
        padding = "same" if kernel == (1, 3) else "valid"
        current.append(
            keras.layers.Conv2D(
                filters, kernel, padding=padding, name=f"embedding_conv_{conv_index}", dtype=dtype
            )
        )
        if conv_index < num_convs - 1:
            current.append(
                keras.layers.LeakyReLU(
                    negative_slope=LEAKY_SLOPE, name=f"embedding_leaky_{conv_index}", dtype=dtype
                )
            )
            current.append(
                ClipBelow(ACTIVATION_FLOOR, name=f"embedding_floor_{conv_index}", dtype=dtype)
            )
        conv_index += 1
    current.append(keras.layers.Flatten(name="embedding_flatten", dtype=dtype))
    stages[-1].extend(current)
    return stages


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class ClipBelow(keras.layers.Layer):
    """`max(x, floor)`: the original's `tf.math.maximum` after each LeakyReLU.

    Args:
        floor: the lower bound. Defaults to `-0.4`.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, floor=ACTIVATION_FLOOR, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)

    def call(self, x):
        return keras.ops.maximum(x, keras.ops.cast(self.floor, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(floor=self.floor)
        return config


def tflite_interpreter(path, allocate=True):
    """A TFLite interpreter for `path` with the reference kernels (no XNNPACK delegate).

    From ai-edge-litert if installed, else TensorFlow's deprecated
    `tf.lite`. The XNNPACK delegate is left out: it cannot resize the
    melspectrogram graph's input, and the reference kernels are the stricter
    reference for a parity check. `allocate=False` leaves tensors
    unallocated, for graphs whose stored input shape cannot run (the
    melspectrogram's is one sample): resize the input, then allocate.
    """
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        import tensorflow as tf

        litert = tf.lite
        resolver = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    else:
        resolver = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns it is deprecated in favour of LiteRT.
        warnings.simplefilter("ignore")
        interpreter = litert.Interpreter(
            model_path=str(path), experimental_op_resolver_type=resolver
        )
    if allocate:
        interpreter.allocate_tensors()
    return interpreter


def read_tflite_convolutions(path):
    """Reads the `(kernel, bias)` of every CONV_2D of a TFLite file, in graph order.

    Args:
        path: a `.tflite` file.

    Returns:
        A list of `(kernel (h, w, in, out), bias (out,))` NumPy pairs (TFLite
        stores kernels as `(out, h, w, in)`), and the list of constant
        operands of the graph's MAXIMUM ops.
    """
    interpreter = tflite_interpreter(path)
    convolutions, floors = [], []
    for op in interpreter._get_ops_details():
        if op["op_name"] == "CONV_2D":
            _, kernel, bias = op["inputs"]
            kernel = interpreter.get_tensor(int(kernel)).transpose(1, 2, 3, 0)
            convolutions.append((kernel, interpreter.get_tensor(int(bias))))
        elif op["op_name"] == "MAXIMUM":
            floors.append(float(interpreter.get_tensor(int(op["inputs"][1]))))
    return convolutions, floors


def load_tflite_weights(conv_layers, path):
    """Copies the TFLite file's convolutions into `conv_layers` (built Keras Conv2D layers).

    Raises:
        ValueError: the file's convolutions or clipping constants do not
            match the architecture (another model than speech_embedding).
    """
    convolutions, floors = read_tflite_convolutions(path)
    if len(convolutions) != len(conv_layers):
        raise ValueError(
            f"{path} has {len(convolutions)} convolutions, speech_embedding has "
            f"{len(conv_layers)}: not the speech_embedding model. Received: path={path}"
        )
    if any(abs(f - ACTIVATION_FLOOR) > 1e-7 for f in floors):
        raise ValueError(
            f"{path} clips activations at {sorted(set(floors))}, expected {ACTIVATION_FLOOR}. "
            f"Received: path={path}"
        )
    for layer, (kernel, bias) in zip(conv_layers, convolutions, strict=True):
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise ValueError(
                f"Kernel of shape {kernel.shape} for {layer.name} of shape {expected}. "
                f"Received: path={path}"
            )
        layer.set_weights([kernel, bias])
