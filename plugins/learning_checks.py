"""The conformance kit's learning checks: the logged loss falls by a margin a
constant model cannot meet, and accuracy-like metrics beat chance (the most
frequent label's share) on the training rows. `plugins.testing` runs them on
every case; why 15% and 3 standard deviations: its module docstring.

Example:
    >>> check_loss_falls(logged_losses("runs/mlm"), "mlm on bert_nano")
"""
import json
import os

import numpy as np
import tensorflow as tf

#: The last quarter of the logged losses must be at most (1 - LOSS_MARGIN) times
#: the first quarter.
LOSS_MARGIN = 0.15
#: Rows of training data the above-chance check runs the trained model on.
CHANCE_ROWS = 256


class ConformanceError(AssertionError):
    pass


def require(condition, message):
    if not condition:
        raise ConformanceError(message)


def check_loss_falls(losses, what):
    """The mean of the last quarter of `losses` (one per logged loop) is at most
    1 - LOSS_MARGIN times the mean of the first quarter.

        >>> check_loss_falls([2.0, 1.5, 1.0, 0.8], "mlm on bert_nano")
    """
    require(len(losses) >= 2, f"{what}: {len(losses)} logged loss(es); the kit needs two "
             "loops at least")
    few = max(1, len(losses) // 4)
    first, last = float(np.mean(losses[:few])), float(np.mean(losses[-few:]))
    require(last <= (1 - LOSS_MARGIN) * first,
             f"{what}: loss did not fall by {LOSS_MARGIN:.0%} (mean of the first {few} "
             f"loop(s) {first:.4g}, of the last {few} {last:.4g}; losses {losses})")


def _is_accuracy(name):
    return name.endswith("accuracy") or name == "exact_match"


def _row_part(structure, metric):
    """The part of a labels (or weights) dict a metric reads: the key it is named after
    (nsp for nsp_accuracy), else "label"; a plain tensor is its own part."""
    if not isinstance(structure, dict):
        return structure
    for key in structure:
        if metric == key or metric.startswith(f"{key}_"):
            return structure[key]
    return structure.get("label")


def check_above_chance(run, config, model_dir, what, skip=()):
    """Each accuracy-like metric of one label per row, computed by the task's `metrics`
    with the trained model on up to CHANCE_ROWS training rows, beats chance on those
    rows (the most frequent row label's weight share) by 3 standard deviations.

    Returns {metric: (value, chance)}; {} when the task has no such metric.

        >>> check_above_chance(run, config, "runs/nsp", "nsp on bert_nano")
        {'nsp_accuracy': (0.81, 0.51)}
    """
    from zoo.data.formats.readers import read_examples
    task = run.task
    tf.train.Checkpoint(model=run.model).restore(
        tf.train.latest_checkpoint(model_dir)).expect_partial()
    examples = read_examples(config.training["train_data"], task.data_fields, config.text_mode)
    batch_size = 32
    sums, counts, rows = {}, {}, {}
    for index, batch in enumerate(task.example_stream(examples).batch(batch_size)
                                  .take(CHANCE_ROWS // batch_size)):
        features, labels, weights = task.preprocess(batch, seed=tf.constant([7, index],
                                                                            tf.int64))
        outputs = run.model(features, training=False)
        for name, (total, count) in task.metrics(labels, outputs, weights).items():
            label, weight = _row_part(labels, name), _row_part(weights, name)
            if (not _is_accuracy(name) or name in skip or not isinstance(label, tf.Tensor)
                    or not isinstance(weight, tf.Tensor) or weight.shape.rank != 1
                    or label.shape.rank not in (1, 2)
                    or (label.shape.rank == 2 and name != "exact_match")):
                continue  # not one label per row: no chance level the kit can see
            sums[name] = sums.get(name, 0.0) + float(total)
            counts[name] = counts.get(name, 0.0) + float(count)
            seen = rows.setdefault(name, {})
            for row, w in zip(label.numpy().reshape(label.shape[0], -1), weight.numpy()):
                seen[row.tobytes()] = seen.get(row.tobytes(), 0.0) + float(w)
    result = {}
    for name, seen in rows.items():
        n = sum(seen.values())
        if not n or not counts[name]:
            continue
        chance = max(seen.values()) / n
        value = sums[name] / counts[name]
        margin = 3 * float(np.sqrt(chance * (1 - chance) / n))
        require(value > chance + margin,
                 f"{what}: {name} {value:.3f} on {n:.0f} training rows is not above chance "
                 f"{chance:.3f} (the most frequent label's share) by 3 standard deviations "
                 f"({margin:.3f})")
        result[name] = (value, chance)
    return result


def logged_losses(model_dir):
    from zoo.fileio import read_text
    return [json.loads(line)["loss"]
            for line in read_text(os.path.join(model_dir, "train_log.jsonl")).splitlines()]
