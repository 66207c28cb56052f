"""Every callback tlkeras adds or recommends works with steps_per_execution > 1."""

import keras
import numpy as np
import pytest
from resume_helpers import Interrupt
from resume_helpers import max_difference
from resume_helpers import mlp_data
from resume_helpers import mlp_model
from resume_helpers import state

from tlkeras.callbacks import DomainAdversarialSchedule
from tlkeras.callbacks import GradualUnfreezing
from tlkeras.callbacks import LearningRateLogger
from tlkeras.callbacks import ResumableTraining
from tlkeras.domain import DomainAdaptationModel
from tlkeras.domain import pair_datasets

STEPS = 2  # steps_per_execution
BATCH = 8


def _compiled(**kwargs):
    model = mlp_model(**kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=STEPS)
    return model


def test_gradual_unfreezing_and_lr_logging():
    model = _compiled().freeze()
    x, y = mlp_data(n=4 * BATCH)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[GradualUnfreezing(every=1), LearningRateLogger()],
    )
    groups = len(model.layer_groups)
    top = groups - model.num_backbone_groups
    assert history.history["trainable_groups"] == [top, top + 1, min(groups, top + 2)]
    assert history.history["lr"] == pytest.approx([1e-2] * 3)
    assert history.history["lr_group_0"][0] == 0.0  # frozen in epoch 0
    assert history.history[f"lr_group_{groups - 1}"] == pytest.approx([1e-2] * 3)
    if keras.backend.backend() != "jax":  # JAX rebuilds the optimizer when what trains changes
        assert int(model.optimizer.iterations) == 3 * 4


def test_resumable_training_checkpoints_and_resumes(tmp_path):
    x, y = mlp_data(n=4 * BATCH)

    def run(interrupt=None):
        model = _compiled()
        callbacks = [ResumableTraining(tmp_path / "run", save_freq=STEPS)]
        model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=callbacks + ([interrupt] if interrupt else []),
        )
        return model

    reference = state(run())
    # Stopped after 3 executions (6 batches: mid-epoch 1), then the same call again.
    with pytest.raises(KeyboardInterrupt):
        run(Interrupt(3))
    assert max_difference(reference, state(run())) < 1e-6


def test_dann_schedule_moves_lambda_per_step():
    x_source, y_source = mlp_data(n=64, seed=1, shift=-1.0)
    x_target, _ = mlp_data(n=64, seed=2, shift=1.0)
    trainer = DomainAdaptationModel(mlp_model(), method="dann")
    trainer.compile(steps_per_execution=STEPS)
    history = trainer.fit(
        pair_datasets((x_source, y_source), x_target, batch_size=16, seed=0),
        epochs=2,
        verbose=0,
        callbacks=[DomainAdversarialSchedule()],
    )
    expected = [2 / (1 + np.exp(-5.0)) - 1, 2 / (1 + np.exp(-10.0)) - 1]
    assert history.history["adaptation_weight"] == pytest.approx(expected, rel=1e-5)
