"""Knowledge distillation of a classification model_dir into a (smaller) student.

The `distill` task is `classification` plus a teacher: a trained
classification (or distill) model_dir of this project, restored once on the
host and run in the input pipeline on the same raw texts, with its own
tokenizer and seq_len, so its logits arrive with each batch. The loss is

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
      + (1 - alpha) * cross-entropy(labels, student)

logged as the terms `soft` and `hard`. The label set is the teacher's. The
student exports like any classifier (the export does not need the teacher).
With `teacher_logits=<file.tfrecord>` the teacher scores the training texts
once and later runs read the file (`tasks.teacher_logits`).

Example:
    zoo-train --model=bert_nano --task=distill --train_data=sst2/train.tsv \\
              --task_config=teacher=runs/sst2_mini,temperature=2.0,alpha=0.5 \\
              --eval_data=sst2/dev.tsv --model_dir=runs/sst2_nano_kd
    zoo-train ... --task_config=teacher=runs/sst2_mini,teacher_logits=runs/sst2_mini/logits.tfrecord
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from tasks.classification import Classification, ClassificationConfig
from tasks.teacher_logits import (TeacherLogitsTable, check_rows_covered, read_teacher_logits,
                                   row_keys, write_teacher_logits)
from zoo.data.formats.readers import DataError
from zoo.fileio import absolute, exists
from zoo.train.losses import sparse_cross_entropy_sum


@dataclasses.dataclass(frozen=True)
class DistillConfig(ClassificationConfig):
    teacher: str = ""  # model_dir of a trained classification run
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the soft (teacher) term; 1 - alpha: the labels
    teacher_logits: str = ""  # TFRecord of precomputed logits: read if present, else written


def distillation_loss_sums(labels, teacher_logits, student_logits, weights, temperature,
                           alpha):
    """{'soft': (sum, weight), 'hard': (sum, weight)}: the weighted per-example
    `alpha * T^2 * KL(p_teacher || p_student)` (both softened by T) and
    `(1 - alpha) * cross-entropy`; their means add up to the distillation loss."""
    t = tf.constant(temperature, tf.float32)
    student = tf.cast(student_logits, tf.float32)
    log_p_teacher = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / t)
    log_p_student = tf.nn.log_softmax(student / t)
    kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), -1)
    weights = tf.cast(weights, tf.float32)
    hard, weight = sparse_cross_entropy_sum(labels, student, weights)
    return {"soft": (alpha * t * t * tf.reduce_sum(kl * weights), weight),
            "hard": ((1.0 - alpha) * hard, weight)}


def teacher_checkpoint(model_dir):
    """The absolute path of the teacher's latest checkpoint."""
    checkpoint = tf.train.latest_checkpoint(model_dir)
    if not checkpoint:
        raise FileNotFoundError(f"teacher '{model_dir}' has no checkpoint; train it first")
    return absolute(checkpoint)


def load_teacher(model_dir):
    """The teacher's assembled run (encoder, task, model), restored from its latest
    checkpoint and frozen."""
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    config = load_run_config(model_dir)
    checkpoint = teacher_checkpoint(model_dir)
    run = assemble(config, model_dir)
    tf.train.Checkpoint(model=run.model).restore(checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    run.model.trainable = False
    return run


@TASKS.register("distill")
class Distill(Classification):
    """Classification trained on a teacher's softened logits and the labels."""
    name = "distill"
    config_class = DistillConfig

    def __init__(self, config, encoder):
        super().__init__(config, encoder)
        self._teacher = None
        self._precomputed = None

    @classmethod
    def prepare(cls, config, rows):
        """Checks the teacher and takes its label set (so label ids line up)."""
        from zoo.run_config import load_run_config
        if not config.teacher:
            raise DataError("the distill task needs --task_config=teacher=<model_dir>")
        if not 0.0 <= config.alpha <= 1.0 or config.temperature <= 0:
            raise DataError(f"distill needs 0 <= alpha <= 1 and temperature > 0, got "
                            f"alpha={config.alpha}, temperature={config.temperature}")
        teacher = load_run_config(config.teacher)
        labels = teacher.task_config.get("labels", "")
        if teacher.task not in ("classification", "distill") or not labels:
            raise DataError(f"teacher '{config.teacher}' is a '{teacher.task}' run; distill "
                            "needs a trained classification model_dir")
        if bool(teacher.task_config.get("pair")) != config.pair:
            raise DataError(f"teacher '{config.teacher}' has pair={teacher.task_config.get('pair')}"
                            f" but the student pair={config.pair}")
        if config.labels and config.labels != labels:
            raise DataError(f"labels '{config.labels}' differ from the teacher's '{labels}'")
        if config.teacher_logits:
            cls._precompute(config, rows, labels)
        return dataclasses.replace(config, labels=labels)

    @staticmethod
    def _precompute(config, rows, labels):
        """Checks that the teacher_logits file covers every training row, or writes it."""
        path, checkpoint = config.teacher_logits, teacher_checkpoint(config.teacher)
        if exists(path):
            keys, _ = read_teacher_logits(path, checkpoint, labels)
            check_rows_covered(path, keys, rows)
            print(f"teacher logits: {len(keys)} texts read from {path}")
        else:
            count = write_teacher_logits(path, load_teacher(config.teacher), rows, checkpoint,
                                         labels)
            print(f"teacher logits: {count} texts scored by {checkpoint} -> {path}")

    def teacher(self):
        """Restores the teacher on first use; call it eagerly (outside tf.function
        and strategy scopes): `example_stream` does, before `preprocess` is traced."""
        if self._teacher is None:
            self._teacher = load_teacher(self.config.teacher)
        return self._teacher

    def example_stream(self, examples):
        self.teacher()
        path = self.config.teacher_logits
        if path and self._precomputed is None and exists(path):
            self._precomputed = TeacherLogitsTable(*read_teacher_logits(
                path, teacher_checkpoint(self.config.teacher), self.config.labels))
        return examples

    def teacher_logits(self, examples):
        """The teacher's logits for a batch: looked up when every text of the batch
        was precomputed, else computed by the teacher."""
        teacher = self.teacher()

        def computed():
            logits = teacher.model(teacher.task.encode(examples), training=False)
            return tf.cast(logits, tf.float32)
        if self._precomputed is None:
            return computed()
        index, looked_up = self._precomputed.lookup(row_keys(examples))
        return tf.cond(tf.reduce_all(index >= 0), lambda: looked_up, computed)

    def preprocess(self, examples, seed=None):
        features, labels, weights = super().preprocess(examples, seed)
        return features, {"label": labels, "teacher_logits": self.teacher_logits(examples)}, \
            weights

    def loss(self, labels, outputs, weights):
        return distillation_loss_sums(labels["label"], labels["teacher_logits"], outputs,
                                      weights, self.config.temperature, self.config.alpha)

    def metrics(self, labels, outputs, weights):
        return super().metrics(labels["label"], outputs, weights)

    def eval_outputs(self, features, labels, outputs, weights):
        return super().eval_outputs(features, labels["label"], outputs, weights)
