import keras
import numpy as np
import pytest
from pretrain_helpers import tiny_backbone

from tlkeras.errors import ConfigurationError
from tlkeras.pretrain import MaskedReconstruction
from tlkeras.pretrain import SimCLR
from tlkeras.pretrain import get_objective
from tlkeras.pretrain import list_objectives


def _weights(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_weights]


def test_simclr_trains_the_backbone_and_reports_the_contrastive_accuracy(images):
    backbone = tiny_backbone()
    before = _weights(backbone)
    simclr = SimCLR(backbone, projection_dim=8, hidden_dim=16, seed=0)
    simclr.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = simclr.fit(images[..., None].astype("float32"), batch_size=16, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "contrastive_accuracy"}
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert all(0.0 <= a <= 1.0 for a in history.history["contrastive_accuracy"])
    assert all(np.abs(a - b).max() > 0 for a, b in zip(before, _weights(backbone), strict=True))


def test_simclr_config_round_trips():
    simclr = SimCLR(tiny_backbone(), projection_dim=8, hidden_dim=16, temperature=0.3, seed=2)
    clone = SimCLR.from_config(simclr.get_config())
    assert (clone.temperature, clone.projection_dim, clone.seed) == (0.3, 8, 2)
    assert clone.augmentation.get_config()["seed"] == 2


def test_reconstruction_loss_reads_only_the_hidden_pixels(images):
    model = MaskedReconstruction(tiny_backbone(), mask_ratio=0.5, patch_size=3, seed=0)
    batch = images[..., None].astype("float32")
    _, mask = model.corrupt(batch)
    mask = keras.ops.convert_to_numpy(mask)
    assert 0.3 < mask.mean() < 0.7
    assert set(np.unique(mask)) == {0.0, 1.0}
    target = batch / 255.0
    # A prediction that is right on hidden pixels and wrong elsewhere costs nothing.
    wrong_where_visible = target + (1.0 - mask) * 0.7
    loss = model.compute_loss(x=batch, y_pred={"reconstruction": wrong_where_visible, "mask": mask})
    assert float(loss) == pytest.approx(0.0, abs=1e-7)
    loss = model.compute_loss(x=batch, y_pred={"reconstruction": target + 0.1, "mask": mask})
    assert float(loss) == pytest.approx(0.01, rel=1e-4)


def test_reconstruction_trains_the_backbone_and_denoising_needs_noise(images):
    backbone = tiny_backbone()
    before = _weights(backbone)
    model = MaskedReconstruction(backbone, mask_ratio=0.0, noise_stddev=0.1, decoder_width=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(images[..., None].astype("float32"), batch_size=16, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(np.abs(a - b).max() > 0 for a, b in zip(before, _weights(backbone), strict=True))
    with pytest.raises(ValueError, match=r"Received: mask_ratio=0.0, noise_stddev=0.0"):
        MaskedReconstruction(tiny_backbone(), mask_ratio=0.0, noise_stddev=0.0)


def test_objectives_are_looked_up_per_modality_and_a_typo_names_the_choices():
    assert list_objectives("image") == ["contrastive", "reconstruction"]
    assert get_objective("contrastive", "image") is SimCLR
    with pytest.raises(ConfigurationError) as error:
        get_objective("simclrr", "image")
    assert "Received: objective='simclrr'; expected one of 'contrastive', 'reconstruction'" in str(
        error.value
    )
