"""The training and evaluation steps, run by orbit under any tf.distribute strategy.

The per-replica step computes the task's loss sums, divides each by its weight
summed over all replicas, all-reduces gradients and applies AdamW, which clips
them by global norm (after loss-scale unscaling under float16, see
zoo.train.precision). Results therefore do not depend on how the global batch is
split across replicas, nor (`accum_steps`, zoo.train.accumulation) into
micro-batches: then, and under `jit_compile`, the step takes the gradients of
the loss sums (one backward pass per loss term) and divides them by the
weights of the whole step afterwards.

With `nan_policy="skip"` a step whose loss or gradient norm is NaN/Inf (on
any replica) applies no update at all (no AdamW moments, no weight decay) and
adds 1 to `skipped_steps`; its loss and metrics are left out of the logs.
`global_step` still counts it (it counts batches consumed, so `--train_steps`
and the resume position count batches), while `optimizer.iterations` counts
applied updates only, so the learning-rate schedule does not advance on a
skipped step. A float16 step skipped by the loss scaler (its gradients
overflowed) is neither: it is logged normally and not counted.

Example:
    >>> runner = TaskRunner(strategy, task, model, optimizer, global_step,
    ...                     train_dataset, eval_dataset, names, accum_steps=2)
    >>> controller = orbit.Controller(trainer=runner, evaluator=runner, ...)
"""
import functools
import time

import keras
import orbit
import tensorflow as tf

from zoo.train.accumulation import accumulate
from zoo.evaluate.metrics import MetricSums
from zoo.train.precision import loss_scale

SUM = tf.distribute.ReduceOp.SUM
#: What a step with a NaN/Inf loss does: stop training, or skip the update.
NAN_POLICIES = ("stop", "skip")


def loss_terms(task, labels, outputs, weights):
    """The task's loss as {name: (sum, weight)} (a plain pair becomes {'loss': pair})."""
    terms = task.loss(labels, outputs, weights)
    return terms if isinstance(terms, dict) else {"loss": terms}


def metric_names(task, model, batch):
    """Runs one batch eagerly to learn the loss terms and metric names (and build the model).

    Returns (loss term names, metric names).
    """
    features, labels, weights = batch
    outputs = model(features, training=False)
    terms = tuple(loss_terms(task, labels, outputs, weights))
    return terms, tuple(task.metrics(labels, outputs, weights))


def by_batch(dataset):
    """The (evaluation) dataset with tf.data's DATA auto-sharding: every worker of
    a multi-worker run reads all the data and takes its part of each global batch,
    as training does (FILE sharding would give each worker whole files instead)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def replica_slice(batch, replica, replicas):
    """Replica `replica`'s rows of a global batch: the `replica`-th of `replicas`
    equal contiguous parts (what tf.distribute's rebatching gives each replica).

    >>> replica_slice({"x": tf.range(4)}, 1, 2)["x"].numpy()
    array([2, 3], dtype=int32)
    """
    def part(tensor):
        rows = tf.shape(tensor)[0] // replicas
        return tensor[replica * rows:(replica + 1) * rows]
    return tf.nest.map_structure(part, batch)


def with_total_loss(results, terms):
    """Puts 'loss' first: the sum of the terms' means for a loss of several terms."""
    total = results.pop("loss") if "loss" in results else sum(results[t] for t in terms)
    return {"loss": total, **results}


def step_values(task, features, labels, outputs, weights, terms):
    """{name: (sum, count)} as float32 of a step's loss terms, task metrics and
    tokens: those the model read (every `*padding_mask` input; encoder and
    decoder of a seq2seq model both count) and those it was given, padding
    included."""
    values = dict(terms)
    values.update(task.metrics(labels, outputs, weights))
    masks = [v for k, v in features.items() if k.endswith("padding_mask")] \
        if isinstance(features, dict) else []
    if masks:
        values["tokens"] = (tf.add_n([tf.reduce_sum(tf.cast(m, tf.float32))
                                      for m in masks]), 1.0)
        values["padded_tokens"] = (tf.add_n([tf.cast(tf.size(m), tf.float32)
                                             for m in masks]), 1.0)
    return {name: (tf.cast(total, tf.float32), tf.cast(count, tf.float32))
            for name, (total, count) in values.items()}


def jit_compile_off_reason(strategy):
    """Why XLA cannot compile the step under `strategy` on this machine, or None."""
    devices = getattr(strategy.extended, "worker_devices", ())
    if isinstance(strategy, tf.distribute.MirroredStrategy) and \
            any("CPU" in device.upper() for device in devices):
        return "XLA fails under MirroredStrategy on logical CPU devices"
    return None


class TaskRunner(orbit.StandardTrainer, orbit.StandardEvaluator):
    """orbit trainer and evaluator for one task plugin and one Keras model.

    `accum_steps` micro-batches per optimizer step (zoo.train.accumulation);
    `jit_compile` compiles each micro-batch's forward and backward with XLA.
    `stop_flag` (a boolean tf.Variable, or None) ends the in-graph host loop
    before the next step once it is true (zoo.train.preemption sets it on SIGTERM).
    """

    def __init__(self, strategy, task, model, optimizer, global_step, train_dataset,
                 eval_dataset, names, nan_policy="stop", skipped_steps=None, accum_steps=1,
                 jit_compile=False, stop_flag=None):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"unknown nan_policy '{nan_policy}'; choose from "
                             f"{', '.join(NAN_POLICIES)}")
        self.strategy = strategy
        self.task, self.model, self.optimizer = task, model, optimizer
        self.global_step = global_step
        self.stop_flag = stop_flag
        self.nan_policy = nan_policy
        self.accum_steps = accum_steps
        # Normalising inside the step needs the weights of all replicas (a
        # collective), which a while loop or an XLA function cannot hold.
        self._deferred = accum_steps > 1 or jit_compile
        self._gradients = tf.function(self._micro_step, jit_compile=jit_compile) \
            if self._deferred else self._micro_step
        if skipped_steps is None:
            with strategy.scope():
                skipped_steps = tf.Variable(
                    0, dtype=tf.int64, trainable=False, name="skipped_steps",
                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.skipped_steps = skipped_steps
        self.loss_names, metrics = names
        with strategy.scope():
            self.train_sums = MetricSums(self.loss_names + metrics + ("tokens", "padded_tokens"))
            self.eval_sums = MetricSums(self.loss_names + metrics)
        # Training reads this worker's part of each global batch from one host
        # iterator, whose position a checkpoint can hold (a distributed dataset's
        # iterator is not trackable); each of the worker's replicas takes its slice
        # of it (`replica_slice`).
        self.input_iterator = iter(train_dataset) if train_dataset is not None else None
        evaluation = strategy.experimental_distribute_dataset(
            by_batch(eval_dataset)) if eval_dataset else None
        orbit.StandardTrainer.__init__(self, self.input_iterator, orbit.StandardTrainerOptions(
            use_tf_while_loop=True))
        orbit.StandardEvaluator.__init__(self, evaluation, orbit.StandardEvaluatorOptions(
            use_tf_while_loop=False))
        self._loop_start = None
        self._loop_start_step = 0

    # -- training ------------------------------------------------------
    def _micro_step(self, batch):
        """Forward and backward on one (micro-)batch of one replica.

        Returns ({objective: gradients}, {name: (sum, count)} of the loss terms,
        metrics and tokens). Normalised in the step, the one objective is the
        loss (each term divided by its weight summed over replicas); deferred,
        there is one objective per loss term, its sum, to be divided by the
        weight of the whole step (`_normalized`). Losses are multiplied by the
        loss scale under float16.
        """
        features, labels, weights = batch
        variables = self.model.trainable_variables
        with tf.GradientTape(persistent=self._deferred and len(self.loss_names) > 1) as tape:
            outputs = self.model(features, training=True)
            terms = loss_terms(self.task, labels, outputs, weights)
            if self._deferred:
                objectives = {name: total for name, (total, _) in terms.items()}
            else:
                context = tf.distribute.get_replica_context()
                objectives = {"loss": tf.add_n(
                    [total / tf.maximum(context.all_reduce(SUM, weight), 1e-12)
                     for total, weight in terms.values()])}
            scale = loss_scale(self.optimizer)
            if scale is not None:
                objectives = {k: v * tf.cast(scale, v.dtype) for k, v in objectives.items()}
        # Dense gradients (IndexedSlices converted); None for unused variables.
        grads = {name: [None if g is None else tf.convert_to_tensor(g)
                        for g in tape.gradient(objective, variables)]
                 for name, objective in objectives.items()}
        return grads, step_values(self.task, features, labels, outputs, weights, terms)

    def _normalized(self, grads, values, context):
        """The step's gradient: deferred, the sum over terms of each term's
        gradient divided by its weight over all micro-batches and replicas."""
        if not self._deferred:
            return grads["loss"]
        total = [None] * len(self.model.trainable_variables)
        for name, term_grads in grads.items():
            weight = tf.maximum(context.all_reduce(SUM, values[name][1]), 1e-12)
            for i, g in enumerate(term_grads):
                if g is not None:
                    total[i] = g / weight if total[i] is None else total[i] + g / weight
        return total

    def _replica_step(self, batch):
        context = tf.distribute.get_replica_context()
        grads, values = accumulate(self._gradients, batch, self.accum_steps)
        grads = self._normalized(grads, values, context)
        # Variables the task does not use (e.g. an unused pooler) get no update.
        pairs = [(g, v) for g, v in zip(grads, self.model.trainable_variables) if g is not None]
        variables = [v for _, v in pairs]
        grads = context.all_reduce(SUM, [g for g, _ in pairs])
        if self.nan_policy == "skip":
            loss = tf.add_n([values[name][0] for name in self.loss_names])
            bad = tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float32)
            finite = context.all_reduce(SUM, bad) == 0.0
            if loss_scale(self.optimizer) is None:
                # Under loss scaling, overflowing gradients are the scaler's to skip.
                finite = tf.logical_and(finite, tf.math.is_finite(tf.linalg.global_norm(grads)))
            # The cond runs in the cross-replica context, as Keras's LossScaleOptimizer
            # does: a replica-context cond cannot hold the optimizer's merge_call.
            context.merge_call(functools.partial(self._apply_if_finite, variables=variables),
                               args=(finite, grads))
            values = {name: (tf.where(finite, total, 0.0), tf.where(finite, count, 0.0))
                      for name, (total, count) in values.items()}
        else:
            self.optimizer.apply_gradients(zip(grads, variables))
        self.global_step.assign_add(1)
        self.train_sums.update(values)

    def _apply_if_finite(self, distribution, finite, grads, variables):
        """Cross-replica: applies the (identical, all-reduced) gradients on every
        replica when `finite`, else counts a skipped step."""
        finite = distribution.experimental_local_results(finite)[0]

        def apply():
            distribution.extended.call_for_each_replica(
                lambda g: self.optimizer.apply_gradients(zip(g, variables)), args=(grads,))

        def skip():
            self.skipped_steps.assign_add(1)
        tf.cond(finite, apply, skip)

    def create_train_loop_fn(self):
        """orbit's in-graph loop, which with a `stop_flag` checks it before each step."""
        if self.stop_flag is None:
            return super().create_train_loop_fn()
        stop, step = self._stop_requested, self.train_step

        @tf.function
        def loop_fn(iterator, num_steps):
            for _ in tf.range(num_steps):
                if stop():
                    break
                with tf.name_scope(""):
                    step(iterator)
        return loop_fn

    def _stop_requested(self):
        """The stop flag; under multi_worker or-ed over the workers by one scalar
        all-reduce before each step, so that all leave the loop before the same step
        (one worker alone would leave the others waiting in its collectives)."""
        flag = self.stop_flag.read_value()
        if not isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return flag
        votes = self.strategy.run(lambda: tf.cast(flag, tf.float32))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None) > 0

    def train_loop_begin(self):
        self.train_sums.reset()
        self._loop_start = time.time()
        self._loop_start_step = int(self.global_step.numpy())

    def train_step(self, iterator):
        batch = next(iterator)  # this worker's rows of the global batch
        local = len(self.strategy.extended.worker_devices)
        per_replica = self.strategy.experimental_distribute_values_from_function(
            lambda context: replica_slice(batch, context.replica_id_in_sync_group % local,
                                          local))
        self.strategy.run(self._replica_step, args=(per_replica,))

    def train_loop_end(self):
        totals = self.train_sums.totals()
        elapsed = max(time.time() - self._loop_start, 1e-9)
        steps = int(self.global_step.numpy()) - self._loop_start_step
        means = {n: t / c for n, (t, c) in totals.items()
                 if n not in ("tokens", "padded_tokens") and c}
        # Every step of the loop skipped (nan_policy=skip): no loss to show.
        logs = with_total_loss(means, self.loss_names) if means else {"loss": float("nan")}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        scale = loss_scale(self.optimizer)
        if scale is not None:
            logs["loss_scale"] = float(keras.ops.convert_to_numpy(scale))
        logs["steps_per_sec"] = steps / elapsed
        logs["tokens_per_sec"] = totals["padded_tokens"][0] / elapsed
        logs["nonpad_tokens_per_sec"] = totals["tokens"][0] / elapsed
        return logs

    # -- evaluation ----------------------------------------------------
    def _replica_eval_step(self, batch):
        features, labels, weights = batch
        outputs = self.model(features, training=False)
        values = dict(loss_terms(self.task, labels, outputs, weights))
        values.update(self.task.metrics(labels, outputs, weights))
        self.eval_sums.update(values)
        return self.task.eval_outputs(features, labels, outputs, weights) or {}

    def eval_begin(self):
        self.eval_sums.reset()
        return []

    def eval_step(self, iterator):
        return self.strategy.run(self._replica_eval_step, args=(next(iterator),))

    def eval_reduce(self, state=None, step_outputs=None):
        """Gathers the task's per-example eval outputs on the host."""
        if step_outputs:
            for name in step_outputs:
                parts = self.strategy.experimental_local_results(step_outputs[name])
                state.append({name: tf.concat(parts, axis=0).numpy()})
        return state

    def eval_end(self, state=None):
        results = with_total_loss(self.eval_sums.result(), self.loss_names)
        gathered = {}
        for part in state or []:
            for name, value in part.items():
                gathered.setdefault(name, []).append(value)
        if gathered:
            import numpy as np
            results.update(self.task.corpus_metrics(
                {name: np.concatenate(values) for name, values in gathered.items()}))
        return results
