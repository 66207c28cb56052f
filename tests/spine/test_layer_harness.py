"""Every public tlkeras layer passes Keras's own layer test harness (`run_layer_test`).

The harness checks the config round trip, building, output shapes, a training
step, serialization and a `mixed_float16` dtype policy: a layer given a
policy computes in its compute dtype and keeps float32 variables.
"""

import keras
import numpy as np
import pytest
from keras.src import testing

import tlkeras
from tlkeras.heads import ClassifierHead
from tlkeras.heads import RegressorHead
from tlkeras.heads import TokenClassifierHead
from tlkeras.layers import Bottleneck
from tlkeras.layers import GradientReversal
from tlkeras.layers import ImageNormalization
from tlkeras.layers import PaddingMask
from tlkeras.layers import SequencePooling
from tlkeras.layers import TokenPacker


class LayerHarnessTest(testing.TestCase):
    def test_bottleneck(self):
        for kwargs, trainable, non_trainable in [
            ({"units": 4}, 4, 2),  # Dense kernel + bias, BatchNorm gamma + beta / statistics
            ({"units": [6, 4], "normalization": "layer", "dropout": 0.2}, 8, 0),
            ({"units": 3, "normalization": None, "activation": "gelu"}, 2, 0),
        ]:
            self.run_layer_test(
                Bottleneck,
                init_kwargs=kwargs,
                input_shape=(2, 5),
                expected_output_shape=(2, _last(kwargs["units"])),
                expected_num_trainable_weights=trainable,
                expected_num_non_trainable_weights=non_trainable,
                expected_num_seed_generators=len(_as_list(kwargs["units"]))
                if kwargs.get("dropout")
                else 0,
            )

    def test_gradient_reversal(self):
        self.run_layer_test(
            GradientReversal,
            init_kwargs={"factor": 0.5},
            input_shape=(2, 3),
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,  # the factor, float32 under any policy
            run_training_check=False,  # no trainable weights: nothing to step
        )

    def test_image_normalization(self):
        self.run_layer_test(
            ImageNormalization,
            init_kwargs={"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]},
            input_shape=(2, 4, 4, 3),
            expected_output_shape=(2, 4, 4, 3),
            expected_num_trainable_weights=0,
            run_training_check=False,
        )

    def test_padding_mask(self):
        mask = np.array([[1, 1, 0], [1, 0, 0]], dtype="bool")
        self.run_layer_test(
            PaddingMask,
            init_kwargs={},
            input_data=[np.ones((2, 3, 4), "float32"), mask],
            expected_output_shape=(2, 3, 4),
            run_training_check=False,
        )

    def test_sequence_pooling(self):
        for pooling in ("avg", "max", "cls", "last"):
            self.run_layer_test(
                SequencePooling,
                init_kwargs={"pooling": pooling},
                input_shape=(2, 5, 4),
                expected_output_shape=(2, 4),
                run_training_check=False,
            )

    @pytest.mark.tensorflow_only("keras-hub tokenizers run as tf.text ops")
    def test_token_packer(self):
        import keras_hub
        import tensorflow as tf

        vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary)
        self.run_layer_test(
            TokenPacker,
            init_kwargs={"tokenizer": tokenizer, "sequence_length": 6},
            input_data=tf.constant(["the cat sat", "the"]),
            expected_output_shape=((2, 6), (2, 6)),
            expected_output_dtype=("int32", "bool"),
            run_training_check=False,  # strings in, ids out: nothing to train
        )

    def test_heads(self):
        for head, kwargs, width in [
            (ClassifierHead, {"num_classes": 3}, 3),
            (ClassifierHead, {"num_classes": 4, "multi_label": True, "dropout": 0.1}, 4),
            (RegressorHead, {"units": 2}, 2),
        ]:
            self.run_layer_test(
                head,
                init_kwargs=kwargs,
                input_shape=(2, 5),
                expected_output_shape=(2, width),
                expected_output_dtype="float32",
                expected_num_trainable_weights=2,
                expected_num_seed_generators=1 if kwargs.get("dropout") else 0,
            )
        self.run_layer_test(
            TokenClassifierHead,
            init_kwargs={"num_classes": 3},
            input_shape=(2, 4, 5),
            expected_output_shape=(2, 4, 3),
            expected_output_dtype="float32",
            expected_num_trainable_weights=2,
        )


def test_bottleneck_computes_in_its_policy():
    # The known failure of issue 17: the sublayers ignored the layer's policy.
    layer = Bottleneck(4, dtype="mixed_float16")
    outputs = layer(np.ones((2, 5), "float32"))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert all(sub.compute_dtype == "float16" for block in layer.blocks for sub in block)
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


@pytest.mark.parametrize("head", [ClassifierHead(3), RegressorHead(2), TokenClassifierHead(3)])
def test_heads_keep_float32_outputs_under_a_mixed_policy_on_purpose(head):
    # Documented in tlkeras.heads.Head: losses stay stable under mixed precision.
    head = head.__class__.from_config({**head.get_config(), "dtype": "mixed_bfloat16"})
    shape = (2, 4, 5) if isinstance(head, TokenClassifierHead) else (2, 5)
    outputs = head(keras.ops.ones(shape, "bfloat16"))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    symbolic = head(keras.KerasTensor(shape, dtype="bfloat16"))
    assert symbolic.dtype == "float32"
    assert "float32" in (head.__class__.__mro__[1].__doc__ or "") + (tlkeras.heads.Head.__doc__)


def _as_list(units):
    return units if isinstance(units, list) else [units]


def _last(units):
    return _as_list(units)[-1]
