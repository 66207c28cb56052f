"""Raw strings -> fixed-length token ids and padding mask, inside the model."""

import keras


@keras.saving.register_keras_serializable(package="tlkeras")
class TokenPacker(keras.layers.Layer):
    """Tokenizes strings with a keras-hub tokenizer, adds start/end tokens, pads.

    Tokenizing and packing in one layer keeps the ragged tokenizer output
    inside it: the model passes only dense tensors between
    layers, so a model built on it takes raw strings in `fit`, `predict` and
    after a `.keras` round trip (the vocabulary travels as the tokenizer's
    asset). TensorFlow backend only, like keras-hub's tokenizers in a graph.

    Args:
        tokenizer: a keras-hub tokenizer with `start_token_id`,
            `end_token_id` and `pad_token_id` (BERT's `[CLS]`/`[SEP]`,
            RoBERTa's `<s>`/`</s>`).
        sequence_length: tokens per example; longer texts are truncated.

    Example:

    ```python
    packer = TokenPacker(keras_hub.models.BertTokenizer.from_preset(folder), 128)
    token_ids, padding_mask = packer(np.array(["Hello world"]))
    ```
    """

    def __init__(self, tokenizer, sequence_length, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, int):
            raise ValueError(
                f"sequence_length must be an int >= 2. Received: sequence_length={sequence_length!r}"
            )
        if sequence_length < 2:
            raise ValueError(
                f"sequence_length must be an int >= 2. Received: sequence_length={sequence_length!r}"
            )
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        # Eager keras-hub calls take a pure-Python path that returns lists;
        # a model needs the TensorFlow path's tensors in every mode.
        self.tokenizer._allow_python_workflow = False
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def call(self, inputs):
        import tensorflow as tf
        from keras_hub.src.utils.tensor_utils import no_convert_scope

        # The special token ids are read here, not in __init__: a reloaded
        # tokenizer gets its vocabulary (an asset) after construction.
        tokenizer = self.tokenizer
        inputs = tf.reshape(tf.convert_to_tensor(inputs, dtype=tf.string), [-1])
        with no_convert_scope():  # eagerly, keras-hub returns ragged output as lists
            pieces = tokenizer(inputs)[:, : self.sequence_length - 2]
        batch = tf.shape(inputs)[:1]
        start = tf.fill(tf.concat([batch, [1]], 0), tokenizer.start_token_id)
        end = tf.fill(tf.concat([batch, [1]], 0), tokenizer.end_token_id)
        packed = tf.concat([start, tf.cast(pieces, start.dtype), end], axis=1)
        shape = [None, self.sequence_length]
        token_ids = packed.to_tensor(default_value=tokenizer.pad_token_id, shape=shape)
        padding_mask = tf.ones_like(packed, dtype=tf.bool).to_tensor(False, shape=shape)
        return token_ids, padding_mask

    def compute_output_spec(self, inputs):
        shape = (inputs.shape[0], self.sequence_length)
        return (
            keras.KerasTensor(shape, dtype="int32"),
            keras.KerasTensor(shape, dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
            sequence_length=self.sequence_length,
        )
        return config
