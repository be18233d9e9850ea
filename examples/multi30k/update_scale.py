"""How far one optimizer step moves each kind of weight, relative to its size.

Builds a model of the zoo with the run's vocabulary, takes one batch of
Multi30k, and for AdamW and Adafactor prints, per weight group, the RMS of the
weights at initialisation and the RMS of the first update divided by it
(after warmup, at the given peak learning rates). A group that moves 0.1% a
step learns a hundred times slower than one that moves 10%.

    python examples/multi30k/update_scale.py ../shared/data/multi30k_en_de runs/multi30k/spm8k.model
"""
import argparse
import collections
import re

import zoo  # noqa: F401  (sets the Keras backend)
import numpy as np
import tensorflow as tf

from plugins import MODELS, TASKS
from plugins.discovery import load_plugins
from zoo.data.tokenizers.encoders import load_encoder
from zoo.train.optimizer import create_optimizer

GROUPS = [("embedding", r"embedding"), ("query", r"query"), ("key/value", r"key|value"),
          ("attention out", r"output_projector|attention_output|_output_dense"),
          ("feed-forward", r"intermediate|input_projector|feedforward|output_dense|gate"),
          ("norm", r"norm")]


def group_of(name):
    for group, pattern in GROUPS:
        if re.search(pattern, name):
            return group
    return "other"


def first_update(model_name, optimizer_name, learning_rate, batch, vocabulary_size, seed=0):
    import dataclasses
    import keras
    keras.utils.set_random_seed(seed)
    spec = MODELS.get(model_name)
    backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=vocabulary_size))
    task = TASKS.get("translation")(TASKS.get("translation").config_class(), batch["encoder"])
    model = task.build_model(backbone)
    features, labels, weights = task.preprocess(batch["examples"])
    optimizer = create_optimizer(learning_rate, 10, 0, "constant", weight_decay=0.0,
                                 clip_norm=0, name=optimizer_name)
    variables = model.trainable_variables
    optimizer.build(variables)
    before = [v.numpy().copy() for v in variables]
    with tf.GradientTape() as tape:
        loss_sum, weight_sum = task.loss(labels, model(features, training=False), weights)
        loss = loss_sum / weight_sum
    optimizer.apply(tape.gradient(loss, variables), variables)
    table = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for variable, old in zip(variables, before):
        row = table[group_of(variable.path)]
        row[0] += float(np.sum(old.astype(np.float64) ** 2))
        row[1] += float(np.sum((variable.numpy() - old).astype(np.float64) ** 2))
        row[2] += old.size
    return {g: (np.sqrt(w / n), np.sqrt(u / w)) for g, (w, u, n) in table.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("spm_model")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    load_plugins()
    encoder = load_encoder("sentencepiece_bpe", args.spm_model, 64, lowercase=False,
                           family="encoder_decoder")
    lines = {lang: open(f"{args.data_dir}/train.{lang}", encoding="utf-8").read().splitlines()
             for lang in ("en", "de")}
    batch = {"encoder": encoder, "examples": {
        "source": tf.constant(lines["en"][:args.batch_size]),
        "target": tf.constant(lines["de"][:args.batch_size])}}
    print(f"{'model':18} {'optimizer':22} {'group':14} {'weight RMS':>10} {'step / RMS':>10}")
    for model_name in ("t5_mini", "transformer_small"):
        for optimizer_name, rate in (("adamw", 1e-3), ("adafactor", 1e-2)):
            scales = first_update(model_name, optimizer_name, rate, batch,
                                  encoder.vocabulary_size)
            for group, (rms, relative) in sorted(scales.items()):
                print(f"{model_name:18} {optimizer_name + f' lr={rate:g}':22} {group:14} "
                      f"{rms:10.4f} {relative:10.2%}")


if __name__ == "__main__":
    main()
