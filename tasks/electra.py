"""ELECTRA pretraining: replaced-token detection (Clark et al. 2020).

A small generator, trained with masked LM, fills the masked positions with
tokens sampled from its own softmax; the discriminator (the run's backbone)
reads the corrupted text and tells for every token whether it was replaced.
A sampled token that equals the original counts as original. The generator
shares the discriminator's embeddings (token, position, segment and their
layer norm) and has `generator_layers` transformer layers of its own. The
loss is the generator's mean masked-token cross-entropy plus
`discriminator_weight` (50) times the discriminator's mean per-token binary
cross-entropy; every token of every row teaches the discriminator, which is
why ELECTRA learns more per FLOP than MLM at small scale.

Documents are packed into full rows as for `mlm`. `--init_checkpoint` of an
ELECTRA run hands the discriminator to fine-tuning (the generator is
dropped). The export's `serving_default` takes raw text and returns, per
token, the probability that it was replaced.

Example:
    zoo-train --model=bert_mini --task=electra --train_data=reviews.txt --model_dir=runs/electra
    zoo-train --model=bert_mini --task=classification --init_checkpoint=runs/electra ...
"""
import dataclasses

import keras
import keras_hub
import tensorflow as tf

from plugins import TASKS, TaskPlugin
from plugins.task import ENCODER
from tasks.mlm import (MlmConfig, encoder_inputs, mask_tokens, masked_lm_logits,
                       packed_windows, prediction_slots, window_features)
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum


@dataclasses.dataclass(frozen=True)
class ElectraConfig(MlmConfig):
    mask_token_rate: float = 1.0  # the generator sees [MASK] at every chosen position
    random_token_rate: float = 0.0
    generator_layers: int = 1
    generator_intermediate_dim: int = 0  # 0: the backbone's intermediate_dim // 2
    discriminator_weight: float = 50.0


def sample_replacements(generator_logits, noise):
    """One token per position from softmax(logits), by inverse CDF of `noise` in
    [0, 1) (same shape as the positions): the sampling is a function of the noise,
    so it is reproducible, and no gradient flows through it."""
    probabilities = tf.nn.softmax(tf.stop_gradient(tf.cast(generator_logits, tf.float32)))
    below = tf.cumsum(probabilities, axis=-1) < noise[..., None]
    sampled = tf.reduce_sum(tf.cast(below, tf.int32), axis=-1)
    return tf.minimum(sampled, tf.shape(generator_logits)[-1] - 1)


def replace_tokens(token_ids, positions, weights, originals, sampled):
    """Puts `sampled` at the chosen `positions` of the original `token_ids`.

    Returns (corrupted ids, 0/1 float `replaced` per token): a position is
    replaced when its sampled token differs from the original."""
    width = tf.shape(token_ids)[1]
    chosen = weights > 0
    replaced = tf.logical_and(chosen, tf.not_equal(sampled, originals))
    where = tf.one_hot(positions, width, dtype=tf.int32) * tf.cast(chosen, tf.int32)[..., None]
    corrupted = token_ids + tf.reduce_sum(where * (sampled - originals)[..., None], axis=1)
    replaced_per_token = tf.reduce_max(
        where * tf.cast(replaced, tf.int32)[..., None], axis=1)
    return corrupted, tf.cast(replaced_per_token, tf.float32)


class ReplaceTokens(keras.layers.Layer):
    """Samples the generator's replacements and corrupts the text (no weights)."""

    def call(self, generator_logits, token_ids, positions, weights, originals, noise):
        sampled = sample_replacements(generator_logits, noise)
        return replace_tokens(token_ids, positions, weights, originals, sampled)


def generator_sequence(backbone, inputs, num_layers, intermediate_dim):
    """The generator's transformer layers over the backbone's own embeddings."""
    tokens = backbone.token_embedding(inputs["token_ids"])
    x = backbone.embeddings_add((tokens, backbone.position_embedding(tokens),
                                 backbone.segment_embedding(inputs["segment_ids"])))
    x = backbone.embeddings_dropout(backbone.embeddings_layer_norm(x))
    for index in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=intermediate_dim, num_heads=backbone.num_heads,
            activation="gelu", dropout=backbone.dropout, layer_norm_epsilon=1e-12,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name=f"generator_layer_{index}")(x, padding_mask=inputs["padding_mask"])
    return x


@TASKS.register("electra")
class Electra(TaskPlugin):
    """Outputs generator logits at the masked positions, discriminator logits per
    token, and which tokens were replaced."""
    name = "electra"
    families = (ENCODER,)
    data_fields = ("text",)
    config_class = ElectraConfig
    supports_bucketing = False  # packed rows have no padding
    min_seq_len = 3  # [CLS] one token [SEP]

    def example_stream(self, examples):
        return packed_windows(examples, self.encoder)

    def preprocess(self, rows, seed=None):
        token_ids, segment_ids, padding_mask = window_features(rows)
        seed = tf.constant([0, 0], tf.int64) if seed is None else seed
        mask_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        masked_ids, positions, originals, weights = mask_tokens(
            token_ids, self.encoder, self.config,
            prediction_slots(self.config, self.encoder.seq_len), mask_seed)
        features = {"token_ids": masked_ids, "original_token_ids": token_ids,
                    "segment_ids": segment_ids, "padding_mask": padding_mask,
                    "mask_positions": positions, "mask_weights": weights,
                    "sample_noise": tf.random.stateless_uniform(tf.shape(positions), noise_seed)}
        return features, originals, weights

    def build_model(self, backbone):
        inputs = encoder_inputs()
        inputs["original_token_ids"] = keras.Input((None,), dtype="int32",
                                                   name="original_token_ids")
        inputs["mask_positions"] = keras.Input((None,), dtype="int32", name="mask_positions")
        inputs["mask_weights"] = keras.Input((None,), dtype="float32", name="mask_weights")
        inputs["sample_noise"] = keras.Input((None,), dtype="float32", name="sample_noise")
        intermediate = self.config.generator_intermediate_dim or backbone.intermediate_dim // 2
        generated = generator_sequence(backbone, inputs, self.config.generator_layers,
                                       intermediate)
        generator_logits = masked_lm_logits(backbone, generated, inputs["mask_positions"])
        originals = keras.ops.take_along_axis(inputs["original_token_ids"],
                                              inputs["mask_positions"], axis=1)
        corrupted, replaced = ReplaceTokens(name="replace_tokens")(
            generator_logits, inputs["original_token_ids"], inputs["mask_positions"],
            inputs["mask_weights"], originals, inputs["sample_noise"])
        self.discriminator_head = keras.Sequential([
            keras.layers.Dense(backbone.hidden_dim, activation="gelu"),
            keras.layers.Dense(1, dtype="float32")], name="discriminator_head")
        sequence = backbone({"token_ids": corrupted, "segment_ids": inputs["segment_ids"],
                             "padding_mask": inputs["padding_mask"]})["sequence_output"]
        discriminator_logits = keras.ops.squeeze(self.discriminator_head(sequence), -1)
        self.backbone = backbone
        return keras.Model(inputs, {"generator": generator_logits,
                                    "discriminator": discriminator_logits,
                                    "replaced": replaced}, name="electra")

    def loss(self, labels, outputs, weights):
        tokens, replaced, logits = self._per_token(outputs)
        per_token = tf.nn.sigmoid_cross_entropy_with_logits(replaced, logits)
        return {"generator": sparse_cross_entropy_sum(labels, outputs["generator"], weights),
                "discriminator": (self.config.discriminator_weight *
                                  tf.reduce_sum(per_token * tokens), tf.reduce_sum(tokens))}

    def metrics(self, labels, outputs, weights):
        tokens, replaced, logits = self._per_token(outputs)
        correct = tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), replaced), tf.float32)
        return {"masked_accuracy": accuracy_sum(labels, outputs["generator"], weights),
                "rtd_accuracy": (tf.reduce_sum(correct * tokens), tf.reduce_sum(tokens)),
                "replaced_fraction": (tf.reduce_sum(replaced * tokens), tf.reduce_sum(tokens))}

    @staticmethod
    def _per_token(outputs):
        logits = tf.cast(outputs["discriminator"], tf.float32)
        return tf.ones_like(logits), tf.cast(outputs["replaced"], tf.float32), logits

    def serving_signatures(self, model):
        encoder, backbone, head = self.encoder, self.backbone, self.discriminator_head

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_default(text):
            token_ids, segment_ids, padding_mask = encoder.encode(text)
            sequence = backbone({"token_ids": token_ids, "segment_ids": segment_ids,
                                 "padding_mask": padding_mask}, training=False)
            probability = tf.sigmoid(tf.cast(tf.squeeze(head(sequence["sequence_output"]), -1),
                                             tf.float32))
            return {"tokens": encoder.id_to_token(token_ids), "padding_mask": padding_mask,
                    "replaced_probability": probability * tf.cast(padding_mask, tf.float32)}
        return {"serving_default": serving_default}

    def warmup_inputs(self):
        return {"text": ["the film was a delight ."]}
