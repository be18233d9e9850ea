"""Joint MLM + NSP pretraining, as in the original BERT recipe.

Sentence pairs are built as for `nsp`, masked as for `mlm`, and the loss is
the sum of the mean masked-token cross-entropy and the mean NSP
cross-entropy. The NSP head has `nsp`'s dropout on the pooled vector. The
export answers fill-mask queries (`serving_default`) and next-sentence queries
(`next_sentence`, two text inputs, the same signature as `nsp`'s).

Example:
    zoo-train --model=bert_mini --task=mlm_nsp --text_mode=paragraph --train_data=docs.txt
"""
import dataclasses

import keras
import tensorflow as tf

from plugins import TASKS, TaskPlugin
from plugins.task import ENCODER
from tasks.mlm import (MlmConfig, encoder_inputs, fill_mask_signature, mask_tokens,
                       masked_lm_logits, prediction_slots)
from tasks.nsp import next_sentence_signature, sentence_pairs
from tasks.pooled_head import pooled_vector
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum


@dataclasses.dataclass(frozen=True)
class MlmNspConfig(MlmConfig):
    next_rate: float = 0.5
    dropout: float = 0.1  # on the pooled vector, before the NSP head (as nsp)


@TASKS.register("mlm_nsp")
class MlmNsp(TaskPlugin):
    """Outputs {'mlm': logits at masked positions, 'nsp': IsNext/NotNext logits}."""
    name = "mlm_nsp"
    families = (ENCODER,)
    data_fields = ("text",)
    config_class = MlmNspConfig
    signature_names = ("serving_default", "next_sentence")
    min_seq_len = 5  # [CLS] a [SEP] b [SEP]

    def preprocess(self, examples, seed=None):
        seed = tf.constant([0, 0], tf.int64) if seed is None else seed
        pair_seed, mask_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        first, second, nsp_labels = sentence_pairs(examples["text"], pair_seed,
                                                   self.config.next_rate)
        token_ids, segment_ids, padding_mask = self.encoder.encode(first, second)
        masked_ids, positions, mlm_labels, mlm_weights = mask_tokens(
            token_ids, self.encoder, self.config,
            prediction_slots(self.config, self.encoder.seq_len), mask_seed)
        features = {"token_ids": masked_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask, "mask_positions": positions}
        labels = {"mlm": mlm_labels, "nsp": nsp_labels}
        weights = {"mlm": mlm_weights, "nsp": tf.ones_like(nsp_labels, tf.float32)}
        return features, labels, weights

    def build_model(self, backbone):
        inputs = encoder_inputs()
        inputs["mask_positions"] = keras.Input((None,), dtype="int32", name="mask_positions")
        outputs = backbone({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        mlm = masked_lm_logits(backbone, outputs["sequence_output"], inputs["mask_positions"])
        pooled = keras.layers.Dropout(self.config.dropout, name="nsp_dropout")(
            pooled_vector(outputs, inputs["padding_mask"]))
        nsp = keras.layers.Dense(2, name="nsp_head")(pooled)
        return keras.Model(inputs, {"mlm": mlm, "nsp": nsp}, name="mlm_nsp")

    def loss(self, labels, outputs, weights):
        return {name: sparse_cross_entropy_sum(labels[name], outputs[name], weights[name])
                for name in ("mlm", "nsp")}

    def metrics(self, labels, outputs, weights):
        return {"masked_accuracy": accuracy_sum(labels["mlm"], outputs["mlm"], weights["mlm"]),
                "nsp_accuracy": accuracy_sum(labels["nsp"], outputs["nsp"], weights["nsp"])}

    def serving_signatures(self, model):
        def nsp_logits(features):
            positions = tf.zeros([tf.shape(features["token_ids"])[0], 1], tf.int32)
            return model({**features, "mask_positions": positions}, training=False)["nsp"]

        fill_mask = fill_mask_signature(
            lambda features: model(features, training=False)["mlm"], self.encoder,
            self.config.top_k)
        return {"serving_default": fill_mask,
                "next_sentence": next_sentence_signature(self.encoder, nsp_logits)}

    def warmup_inputs(self):
        return {"text": ["the [MASK] is here ."], "text_b": ["and it stays ."]}
