"""A train step that refuses non-finite updates, with no per-batch work on the host.

Keras' own answers to a NaN loss (`TerminateOnNaN`, or any per-batch callback
that reads the loss) bring the step's logs to the host after every batch,
which stalls an accelerator and defeats `steps_per_execution`. Worse, a NaN in
the inputs can leave the loss finite (ReLU maps NaN to 0 on TensorFlow) while
the gradients, and then the weights, turn NaN.

`GuardedTrainStep` checks the loss and every gradient inside the compiled
step. A step with a NaN/Inf in either leaves the model as it was: its update
is not applied (on one TensorFlow device: applied, then undone) and the state
its forward pass changed (BatchNorm statistics, seed generators) is restored;
from then on every step of the epoch is skipped the same way, so the weights
stay those from before the bad batch. The step index is kept in two variables on
the device; `NonFiniteLossGuard` reads them once per epoch and raises.
"""

import keras
from keras import ops

from tlkeras import distribution
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.callbacks.non_finite_loss_guard import NonFiniteLossGuard
from tlkeras.errors import DataError


class StepRecord(keras.metrics.Metric):
    """Device-side record of a `fit()` epoch: steps run and the first non-finite one.

    A metric, so that JAX's stateless step carries it and it is never saved
    with the weights; it logs nothing. Keras resets metrics at each epoch and
    again before validation, which would erase the record before the
    epoch-end check: `reset_state` does nothing and `restart()` resets it.
    """

    def __init__(self, name="non_finite_step_record"):
        super().__init__(name=name)
        # float32, not int: TensorFlow keeps int32 tensors of a GPU step in
        # host memory. Exact up to 2**24 steps per epoch.
        self.steps = self.add_variable(
            shape=(),
            initializer="zeros",
            dtype="float32",
            name="steps",
            aggregation="only_first_replica",
        )
        self.first_bad = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(-1.0),
            dtype="float32",
            name="first_bad",
            aggregation="only_first_replica",
        )

    def update_state(self, *args, **kwargs):
        raise NotImplementedError("StepRecord is updated by GuardedTrainStep.")

    def result(self):
        return {}  # nothing in the logs

    def reset_state(self):
        pass  # see the class docstring

    def restart(self):
        """Starts a new epoch's record: no step run, none bad."""
        self.steps.assign(0.0)
        self.first_bad.assign(-1.0)

    def first_bad_step(self):
        """Index (within the epoch) of the first non-finite step, or `None`."""
        value = int(ops.convert_to_numpy(self.first_bad))
        return None if value < 0 else value

    def advance(self, steps, first_bad, finite):
        """New (steps, first_bad) and whether this step may update the model."""
        first_bad_now = ops.logical_and(ops.logical_not(finite), first_bad < 0)
        apply = ops.logical_and(finite, first_bad < 0)
        return steps + 1.0, ops.where(first_bad_now, steps, first_bad), apply


class GuardedTrainStep:
    """Mixin for a `keras.Model` whose `fit()` guards its train step (see the module).

    `arm_step_guard(True)` makes the next traced train step the guarded one;
    `False` gives back Keras' own step, unchanged. The model's `step_record`
    holds what the step saw.
    """

    @property
    def step_record(self):
        """The `StepRecord` of the guarded step (`None` until armed once)."""
        return getattr(self, "_step_record", None)

    def arm_step_guard(self, armed=True):
        """Uses the guarded (True) or Keras' own (False) train step from the next trace."""
        armed = bool(armed)
        if armed and self.step_record is None:
            with distribution.scope_of(self):
                self._step_record = StepRecord()
        if armed != getattr(self, "_step_guard_armed", False):
            self._step_guard_armed = armed
            self.train_function = None
        if armed:
            self._step_record.restart()

    def guard_fit_arguments(self, args, kwargs, armed=True, position=5):
        """Arms (or disarms) the guarded step and puts a `NonFiniteLossGuard` first.

        Args:
            args, kwargs: those of a `fit()` call, callbacks at `args[position]`
                or in `kwargs`.
            armed: `False` trains with Keras' own step and adds no guard.
            position: index of `callbacks` among `keras.Model.fit`'s arguments.

        Returns:
            `(args, kwargs)` with the guard first among the callbacks.
        """
        self.arm_step_guard(armed)
        if not armed:
            return args, kwargs
        args = list(args)
        given = args[position] if len(args) > position else kwargs.get("callbacks")
        callbacks = list(given or [])
        if not any(isinstance(c, NonFiniteLossGuard) for c in callbacks):
            # First, so that it raises before a checkpoint saves the epoch.
            callbacks.insert(0, NonFiniteLossGuard())
        if len(args) > position:
            args[position] = callbacks
        else:
            kwargs = {**kwargs, "callbacks": callbacks}
        return tuple(args), kwargs

    def check_step_record(self, where):
        """Raises `DataError` if the record holds a non-finite step (then restarts it)."""
        record = self.step_record
        if record is None or not getattr(self, "_step_guard_armed", False):
            return
        batch = record.first_bad_step()
        record.restart()
        if batch is not None:
            raise DataError(
                f"The training loss or its gradients became NaN/Inf in {where}; no update "
                "was applied. Look for NaN/Inf in the batch's inputs or targets. "
                f"Received: a non-finite step at batch {batch} of {where}"
            )

    def train_step(self, *args):
        if not getattr(self, "_step_guard_armed", False) or not self.trainable_weights:
            return super().train_step(*args)
        return STEPS[keras.backend.backend()](self, *args)

    def _finite(self, loss, gradients):
        """True when the loss and (unless loss scaling skips them itself) the gradients are finite."""
        with keras.name_scope("non_finite_check"):  # named for profiles
            checks = [ops.all(ops.isfinite(loss))]
            # A loss-scaled optimizer overflows now and then by design and skips
            # those steps itself; only the (unscaled) loss tells bad data apart.
            if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                for gradient in gradients:
                    if gradient is not None:
                        # A TensorFlow IndexedSlices (embedding rows): its rows only.
                        sliced = type(gradient).__name__ == "IndexedSlices"
                        values = gradient.values if sliced else gradient
                        checks.append(ops.all(ops.isfinite(values)))
            return ops.all(ops.stack(checks))

    def _state_variables(self):
        """Non-trainable variables a forward pass may change (not frozen weights)."""
        weights = {id(v) for v in trainable_by_nature([self])}
        return [v for v in self.non_trainable_variables if id(v) not in weights]


def _batch_size(x):
    return ops.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]


def _tensorflow_step(model, data):
    import tensorflow as tf
    from keras.src.losses.loss import unscale_loss_for_distribution

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    state = model._state_variables()
    before = [tf.identity(v.value) for v in state]
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        model._loss_tracker.update_state(
            unscale_loss_for_distribution(loss), sample_weight=_batch_size(x)
        )
        scaled = model.optimizer.scale_loss(loss)
    variables = model.trainable_weights
    gradients = tape.gradient(scaled, variables)
    finite = model._finite(loss, gradients)
    context = tf.distribute.get_replica_context()
    if tf.distribute.has_strategy() and context is not None:
        # Replicas see different batches: they agree on one verdict.
        bad = context.all_reduce("SUM", ops.cast(ops.logical_not(finite), "float32"))
        finite = bad == 0.0
    record = model.step_record
    steps, first_bad, apply = record.advance(record.steps.value, record.first_bad.value, finite)
    record.steps.assign(steps)
    record.first_bad.assign(first_bad)

    _apply_or_restore(model.optimizer, apply, gradients, variables, state, before)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _apply_or_restore(optimizer, apply, gradients, variables, state, before):
    """Applies `gradients` if `apply`, else leaves every variable the step changed as before.

    On one device the update runs first and is undone after a bad step: an
    update that waited for the verdict (which needs every gradient) could
    not overlap the backward pass, and on a CPU that wait added the
    optimizer's time to each step (4-5% of a DANN step, in a profile: see
    bench/README.md). The values kept
    for the undo are reads taken before the update; TensorFlow's
    copy-on-write keeps them while the update writes new buffers, so a step
    briefly holds a second copy of the weights and optimizer slots.
    """
    import tensorflow as tf

    if tf.distribute.has_strategy():
        _apply_or_restore_across_replicas(optimizer, apply, gradients, variables, state, before)
        return
    if not optimizer.built:
        optimizer.build(variables)
    changed = list(variables) + list(optimizer.variables)
    with tf.name_scope("step_guard_keep"):  # named for profiles
        kept = [tf.identity(v.value) for v in changed]
    optimizer.apply(gradients, variables)

    def undo():
        for variable, old in zip(state + changed, list(before) + kept, strict=True):
            variable.assign(old)
        return ops.convert_to_tensor(False)

    tf.cond(apply, lambda: ops.convert_to_tensor(True), undo)


def _apply_or_restore_across_replicas(optimizer, apply, gradients, variables, state, before):
    """`_apply_or_restore` under a tf.distribute strategy: the update waits for the verdict.

    A cond in a replica context may not hold the optimizer's cross-replica
    reduction (a merge_call): the update is chosen in the cross-replica
    context, then each replica applies it, as Keras's LossScaleOptimizer does.
    """
    import tensorflow as tf

    def restore(values):
        for variable, old in zip(state, values, strict=True):
            variable.assign(old)

    def cross_replica(strategy, apply, gradients, before):
        verdict = strategy.experimental_local_results(apply)[0]

        def update_each():
            strategy.extended.call_for_each_replica(
                lambda g: optimizer.apply(g, variables), args=(gradients,)
            )
            return ops.convert_to_tensor(True)

        def undo_each():
            strategy.extended.call_for_each_replica(restore, args=(before,))
            return ops.convert_to_tensor(False)

        tf.cond(verdict, update_each, undo_each)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(apply, gradients, before))


def _jax_step(model, state, data):
    import jax

    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    grad_fn = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)
    (_, aux), gradients = grad_fn(
        trainable,
        non_trainable,
        metrics_variables,
        x,
        y,
        sample_weight,
        training=True,
        optimizer_variables=optimizer_variables,
    )
    loss, y_pred, new_non_trainable, metrics_variables = aux
    finite = model._finite(loss, gradients)
    record = model.step_record
    index = {id(v): i for i, v in enumerate(model.metrics_variables)}
    at_steps, at_first = index[id(record.steps)], index[id(record.first_bad)]
    steps, first_bad, apply = record.advance(
        metrics_variables[at_steps], metrics_variables[at_first], finite
    )

    def update():
        new_trainable, new_optimizer = model.optimizer.stateless_apply(
            optimizer_variables, gradients, trainable
        )
        return new_trainable, new_non_trainable, new_optimizer

    def skip():
        return trainable, non_trainable, optimizer_variables

    trainable, non_trainable, optimizer_variables = jax.lax.cond(apply, update, skip)
    logs, metrics_variables = model._update_metrics_variables(
        metrics_variables, loss, x, y, y_pred, sample_weight
    )
    metrics_variables = list(metrics_variables)
    metrics_variables[at_steps], metrics_variables[at_first] = steps, first_bad
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)


def _torch_step(model, data):
    import torch

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    state = model._state_variables()
    before = [v.value.detach().clone() for v in state]
    y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
    model.zero_grad()
    loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    model._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
    model.optimizer.scale_loss(loss).backward()
    variables = model.trainable_weights[:]
    gradients = [v.value.grad for v in variables]
    record = model.step_record
    with torch.no_grad():
        finite = model._finite(loss, gradients)
        steps, first_bad, apply = record.advance(record.steps.value, record.first_bad.value, finite)
        record.steps.assign(steps)
        record.first_bad.assign(first_bad)
        # Eager PyTorch: the branch itself waits for the device.
        if bool(apply):
            model.optimizer.apply(gradients, variables)
        else:
            for variable, old in zip(state, before, strict=True):
                variable.assign(old)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


STEPS = {"tensorflow": _tensorflow_step, "jax": _jax_step, "torch": _torch_step}
