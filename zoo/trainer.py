"""The training and evaluation steps, run by orbit under any tf.distribute strategy.

The per-replica step computes the task's loss sum, divides it by the weight
summed over all replicas, all-reduces gradients, clips them by global norm,
and applies AdamW. Results therefore do not depend on how the global batch
is split across replicas.

With `nan_policy="skip"` a step whose loss or gradient norm is NaN/Inf (on
any replica) applies no update at all (no AdamW moments, no weight decay) and
adds 1 to `skipped_steps`; its loss and metrics are left out of the logs.
`global_step` still counts it (it counts batches consumed, so `--train_steps`
and the resume position count batches), while `optimizer.iterations` counts
applied updates only, so the learning-rate schedule does not advance on a
skipped step.

Example:
    >>> runner = TaskRunner(strategy, task, model, optimizer, global_step,
    ...                     train_dataset, eval_dataset, clip_norm=1.0)
    >>> controller = orbit.Controller(trainer=runner, evaluator=runner, ...)
"""
import functools
import time

import keras
import orbit
import tensorflow as tf

from zoo.metrics import MetricSums

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


def with_total_loss(results, terms):
    """Puts 'loss' first: the sum of the terms' means for a loss of several terms."""
    total = results.pop("loss") if "loss" in results else sum(results[t] for t in terms)
    return {"loss": total, **results}


class TaskRunner(orbit.StandardTrainer, orbit.StandardEvaluator):
    """orbit trainer and evaluator for one task plugin and one Keras model."""

    def __init__(self, strategy, task, model, optimizer, global_step, train_dataset,
                 eval_dataset, names, clip_norm=1.0, nan_policy="stop", skipped_steps=None):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"unknown nan_policy '{nan_policy}'; choose from "
                             f"{', '.join(NAN_POLICIES)}")
        self.strategy = strategy
        self.task, self.model, self.optimizer = task, model, optimizer
        self.global_step = global_step
        self.clip_norm = clip_norm
        self.nan_policy = nan_policy
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
        train = strategy.experimental_distribute_dataset(train_dataset) if train_dataset else None
        evaluation = strategy.experimental_distribute_dataset(eval_dataset) if eval_dataset else None
        orbit.StandardTrainer.__init__(self, train, orbit.StandardTrainerOptions(
            use_tf_while_loop=True))
        orbit.StandardEvaluator.__init__(self, evaluation, orbit.StandardEvaluatorOptions(
            use_tf_while_loop=False))
        self._loop_start = None
        self._loop_start_step = 0

    # -- training ------------------------------------------------------
    def _replica_step(self, batch):
        features, labels, weights = batch
        context = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(features, training=True)
            terms = loss_terms(self.task, labels, outputs, weights)
            # Each term is normalised by its weight summed over all replicas.
            loss = tf.add_n([total / tf.maximum(context.all_reduce(SUM, weight), 1e-12)
                             for total, weight in terms.values()])
        grads = tape.gradient(loss, variables)
        # Variables the task does not use (e.g. an unused pooler) get no update.
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        variables = [v for _, v in pairs]
        grads = context.all_reduce(SUM, [tf.convert_to_tensor(g) for g, _ in pairs])
        norm = None
        if self.clip_norm and self.clip_norm > 0:
            grads, norm = tf.clip_by_global_norm(grads, self.clip_norm)
        values = dict(terms)
        values.update(self.task.metrics(labels, outputs, weights))
        # Tokens the model read: every `*padding_mask` input (encoder and decoder
        # of a seq2seq model both count).
        masks = [v for k, v in features.items() if k.endswith("padding_mask")] \
            if isinstance(features, dict) else []
        if masks:
            values["tokens"] = (tf.add_n([tf.reduce_sum(tf.cast(m, tf.float32))
                                          for m in masks]), 1.0)
            values["padded_tokens"] = (tf.add_n([tf.cast(tf.size(m), tf.float32)
                                                 for m in masks]), 1.0)
        if self.nan_policy == "skip":
            norm = tf.linalg.global_norm(grads) if norm is None else norm
            bad = tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float32)
            finite = tf.logical_and(context.all_reduce(SUM, bad) == 0.0,
                                    tf.math.is_finite(norm))
            # The cond runs in the cross-replica context, as Keras's LossScaleOptimizer
            # does: a replica-context cond cannot hold the optimizer's merge_call.
            context.merge_call(functools.partial(self._apply_if_finite, variables=variables),
                               args=(finite, grads))
            values = {name: (tf.where(finite, tf.cast(total, tf.float32), 0.0),
                             tf.where(finite, tf.cast(count, tf.float32), 0.0))
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

    def train_loop_begin(self):
        self.train_sums.reset()
        self._loop_start = time.time()
        self._loop_start_step = int(self.global_step.numpy())

    def train_step(self, iterator):
        self.strategy.run(self._replica_step, args=(next(iterator),))

    def train_loop_end(self):
        totals = self.train_sums.totals()
        elapsed = max(time.time() - self._loop_start, 1e-9)
        steps = int(self.global_step.numpy()) - self._loop_start_step
        means = {n: t / c for n, (t, c) in totals.items()
                 if n not in ("tokens", "padded_tokens") and c}
        # Every step of the loop skipped (nan_policy=skip): no loss to show.
        logs = with_total_loss(means, self.loss_names) if means else {"loss": float("nan")}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
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
