"""Text classification of single texts or text pairs, any number of classes.

Labels may be integers (`0..K-1`) or strings; with `labels` unset the label
set is read from the training data (integers in numeric order, strings
sorted) and stored in the run's config, so exports return label names. A
label outside that set fails naming file and line.

Example:
    zoo-train --model=bert_mini --task=classification --train_data=sst2/train.tsv \\
              --eval_data=sst2/dev.tsv --init_checkpoint=runs/pre --model_dir=runs/sst2
    zoo-train ... --task_config='pair=true,labels=entailment|neutral|contradiction'
    zoo-train ... --task_config=pooling=mean   # mean of the token vectors, not [CLS]
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS, OverrideError
from plugins.task import DECODER, ENCODER, ENCODER_DECODER
from tasks.pooled_head import PooledHeadConfig, PooledHeadTask, check_texts_not_empty
from zoo.evaluate.corpus_metrics import macro_f1, matthews_corrcoef
from zoo.data.formats.readers import DataError
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum


@dataclasses.dataclass(frozen=True)
class ClassificationConfig(PooledHeadConfig):
    labels: str = ""  # label names in id order, separated by '|'; empty: from the data
    pair: bool = False  # read a second text field `text_b`

    def __post_init__(self):
        super().__post_init__()
        names = self.label_names
        if names and (len(names) < 2 or "" in names or len(set(names)) < len(names)):
            raise OverrideError(f"labels must name 2 or more distinct, non-empty classes "
                                f"separated by '|', got '{self.labels}'")

    @property
    def label_names(self):
        return tuple(self.labels.split("|")) if self.labels else ()


def label_set(values):
    """Orders observed labels: integers numerically (must be 0..K-1), else sorted."""
    values = set(values)
    if all(v.strip().lstrip("-").isdigit() for v in values):
        numbers = sorted(int(v) for v in values)
        return tuple(str(i) for i in range(max(numbers) + 1)) if numbers[0] >= 0 else None
    return tuple(sorted(values))


@TASKS.register("classification")
class Classification(PooledHeadTask):
    """Softmax classifier on the pooled vector; accuracy, macro-F1, Matthews corr."""
    name = "classification"
    families = (ENCODER, DECODER, ENCODER_DECODER)
    config_class = ClassificationConfig

    @classmethod
    def prepare(cls, config, rows):
        """Learns the label set from training rows when `labels` is unset."""
        if config.label_names:
            return config
        seen, files = {}, []
        for path, line, row in rows:
            seen.setdefault(row["label"].strip(), (path, line))
            files += [path] if path not in files else []
        names = label_set(seen)
        if names is None:
            path, line = next(seen[v] for v in seen if int(v) < 0)  # the first one
            raise DataError(f"{path}:{line}: negative integer labels are not allowed")
        if len(seen) < 2:
            raise DataError(f"{', '.join(files)}: the training data has a single class "
                            f"('{next(iter(seen))}'); a classifier needs at least 2 "
                            "(name the label set with --task_config=labels=a|b|... to train "
                            "on it anyway)")
        return dataclasses.replace(config, labels="|".join(names))

    @classmethod
    def check_row(cls, config, path, line, row):
        check_texts_not_empty(path, line, row)
        label = row["label"].strip()
        if label not in config.label_names:
            shown = ", ".join(config.label_names[:20])
            raise DataError(f"{path}:{line}: label '{label}' is not one of the "
                            f"{len(config.label_names)} classes ({shown})")

    @classmethod
    def data_warnings(cls, config, train_rows, eval_rows):
        """Names the classes the eval data has and the training data lacks."""
        names = config.label_names
        trained = {row["label"].strip() for _, _, row in train_rows}
        unseen = sorted({row["label"].strip() for _, _, row in eval_rows} - trained,
                        key=lambda name: (names.index(name) if name in names else len(names),
                                          name))
        if not unseen:
            return []
        return [f"{len(unseen)} class(es) of the eval data are not in the training data "
                f"(the model never learns them): {', '.join(unseen[:20])}"
                f"{', ...' if len(unseen) > 20 else ''}"]

    def head_units(self):
        return len(self.config.label_names)

    def _table(self):
        names = self.config.label_names
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(names), tf.range(len(names), dtype=tf.int32)), default_value=-1)

    def targets(self, examples):
        labels = self._table().lookup(tf.strings.strip(examples["label"]))
        return labels, tf.ones_like(labels, tf.float32)

    def loss(self, labels, outputs, weights):
        return sparse_cross_entropy_sum(labels, outputs, weights)

    def metrics(self, labels, outputs, weights):
        return {"accuracy": accuracy_sum(labels, outputs, weights)}

    def eval_outputs(self, features, labels, outputs, weights):
        return {"prediction": tf.argmax(outputs, -1, output_type=tf.int32), "label": labels}

    def corpus_metrics(self, gathered):
        predictions, labels = gathered["prediction"], gathered["label"]
        return {"macro_f1": macro_f1(labels, predictions, len(self.config.label_names)),
                "matthews_corr": matthews_corrcoef(labels, predictions)}

    def serving_signatures(self, model):
        names = tf.constant(self.config.label_names)

        def outputs(logits):
            ids = tf.argmax(logits, -1, output_type=tf.int32)
            return {"label_id": ids, "label": tf.gather(names, ids),
                    "probabilities": tf.nn.softmax(logits)}
        return {"serving_default": self.serving_function(model, outputs)}
