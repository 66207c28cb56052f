import math

import numpy as np
import pytest

from tlkeras.pretrain import contrastive_accuracy
from tlkeras.pretrain import nt_xent


def test_nt_xent_matches_the_hand_computed_value_on_two_orthogonal_pairs():
    # Anchor [1, 0]: its positive has cosine 1, its two negatives cosine 0, so with
    # temperature 0.5 every one of the 4 anchors has loss -log(e^2 / (e^2 + 2)).
    z = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    expected = math.log(1.0 + 2.0 * math.exp(-2.0))  # 0.2395...
    assert float(nt_xent(z, 3.0 * z, temperature=0.5)) == pytest.approx(expected, rel=1e-5)


def _reference(z1, z2, temperature):
    z = np.concatenate([z1, z2]).astype("float64")
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        scores = {k: z[i] @ z[k] / temperature for k in range(2 * n) if k != i}
        total += -scores[positive] + math.log(sum(math.exp(s) for s in scores.values()))
    return total / (2 * n)


def test_nt_xent_matches_a_loop_over_anchors_on_random_projections():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    loss = nt_xent(z1.astype("float32"), z2.astype("float32"), temperature=0.3)
    assert float(loss) == pytest.approx(_reference(z1, z2, 0.3), rel=1e-4)


def test_contrastive_accuracy_counts_anchors_whose_nearest_row_is_the_positive():
    z1 = np.eye(4, dtype="float32")
    assert float(contrastive_accuracy(z1, z1 + 0.01)) == 1.0
    # Second views shifted by one row: every anchor's nearest row is a negative.
    assert float(contrastive_accuracy(z1, np.roll(z1, 1, axis=0))) == 0.0


def test_nt_xent_rejects_a_non_positive_temperature():
    z = np.ones((2, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"Received: temperature=0"):
        nt_xent(z, z, temperature=0)
