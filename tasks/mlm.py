"""Masked language modelling (BERT pretraining objective).

Documents are packed, BERT's way: each is tokenized and followed by [SEP],
and the stream of all documents is cut into contiguous windows of
`seq_len - 2` tokens, each wrapped in [CLS] ... [SEP]. Every token of the
corpus is trained on once per epoch, none is truncated away and no row is
padded (`--task_config=packing=false` takes one line per example, truncated
at `--seq_len`, as sentence-level data such as SST-2 phrases wants).

Dynamic masking on every batch: `mask_rate` of the non-special tokens of each
sequence are chosen (at least one), of which 80% become [MASK], 10% a random
token and 10% stay. Masking uses stateless random ops seeded per batch, so a
run is reproducible and resumable. Only the chosen positions reach the head.

Example:
    zoo-train --model=bert_mini --task=mlm --train_data=corpus.txt --model_dir=runs/mlm
    zoo-predict --export_dir=runs/mlm/export "the [MASK] sat on the mat"
"""
import dataclasses
import math

import keras
import keras_hub
import tensorflow as tf

from plugins import TASKS, TaskPlugin
from plugins.task import ENCODER
from zoo.data.pipeline.packing import pack_documents
from zoo.evaluate.corpus_metrics import bits_per_byte, perplexity
from zoo.models.bert_backbone import activation_function
from zoo.train.losses import accuracy_sum, row_nll, sparse_cross_entropy_sum


@dataclasses.dataclass(frozen=True)
class MlmConfig:
    mask_rate: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    max_predictions: int = 0  # 0: ceil(seq_len * mask_rate)
    top_k: int = 5  # predictions per [MASK] in the serving signature
    packing: bool = True  # contiguous full windows over the documents; False: a row per line


def choose_mask_positions(token_ids, special_ids, mask_rate, max_predictions, seed):
    """Picks round(n * mask_rate) (at least 1) random non-special positions per row.

    Returns `(positions, weights)` of shape [batch, min(max_predictions, width)],
    sorted by position; unused slots have position 0 and weight 0.
    """
    candidates = tf.reduce_all(
        tf.stack([token_ids != s for s in special_ids], axis=-1), axis=-1)
    num_candidates = tf.reduce_sum(tf.cast(candidates, tf.float32), axis=1)
    num_to_mask = tf.minimum(
        tf.maximum(tf.round(num_candidates * mask_rate), tf.minimum(num_candidates, 1.0)),
        float(max_predictions))
    scores = tf.where(candidates, tf.random.stateless_uniform(tf.shape(token_ids), seed), 2.0)
    ranks = tf.argsort(tf.argsort(scores, axis=1), axis=1)
    chosen = ranks < tf.cast(num_to_mask[:, None], tf.int32)
    # Order the chosen positions first (by position), then take max_predictions.
    seq_len = tf.shape(token_ids)[1]
    order_key = tf.where(chosen, tf.range(seq_len)[None, :], seq_len + tf.range(seq_len)[None, :])
    order = tf.argsort(order_key, axis=1)[:, :max_predictions]
    weights = tf.cast(tf.gather(chosen, order, batch_dims=1), tf.float32)
    positions = tf.where(weights > 0, order, 0)
    return positions, weights


def corrupt_tokens(token_ids, positions, weights, config, mask_id, vocab_size, seed):
    """Replaces chosen positions: mask_token_rate -> [MASK], random_token_rate -> random."""
    decide_seed, token_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    draw = tf.random.stateless_uniform(tf.shape(positions), decide_seed)
    random_ids = tf.random.stateless_uniform(
        tf.shape(positions), token_seed, minval=0, maxval=vocab_size, dtype=tf.int32)
    original = tf.gather(token_ids, positions, batch_dims=1)
    replacement = tf.where(
        draw < config.mask_token_rate, mask_id,
        tf.where(draw < config.mask_token_rate + config.random_token_rate, random_ids, original))
    # Unused slots point at position 0 with weight 0: they add nothing.
    delta = tf.where(weights > 0, replacement - original, 0)
    batch_index = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
    indices = tf.stack([batch_index, positions], axis=-1)
    return tf.tensor_scatter_nd_add(token_ids, indices, delta), original


def prediction_slots(config, seq_len):
    """Masked positions per row the head sees: `max_predictions`, or enough for
    `mask_rate` of a full row."""
    return config.max_predictions or max(1, math.ceil(seq_len * config.mask_rate))


def mask_tokens(token_ids, encoder, config, max_predictions, seed):
    """Dynamic masking of encoded ids: returns (masked_ids, positions, labels, weights)."""
    choose_seed, corrupt_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    positions, weights = choose_mask_positions(
        token_ids, encoder.special_ids, config.mask_rate, max_predictions, choose_seed)
    masked_ids, labels = corrupt_tokens(token_ids, positions, weights, config,
                                        encoder.mask_id, encoder.vocabulary_size, corrupt_seed)
    return masked_ids, positions, labels, weights


def packed_windows(examples, encoder):
    """Raw documents -> full rows `[CLS] w_1 .. w_(seq_len-2) [SEP]` of contiguous
    ids, documents separated by [SEP]: a dataset of int32 [seq_len] rows."""
    windows = pack_documents(examples, encoder, encoder.seq_len - 2)
    first = tf.constant([encoder.cls_id], tf.int32)
    last = tf.constant([encoder.sep_id], tf.int32)
    return windows.map(lambda ids: tf.concat([first, ids, last], axis=0))


def window_features(rows):
    """(token_ids, segment_ids, padding_mask) of packed rows: one segment, no padding."""
    rows = tf.cast(rows, tf.int32)
    return rows, tf.zeros_like(rows), tf.ones_like(rows)


def encoder_inputs():
    """keras.Input for token_ids, segment_ids, padding_mask (int32, any width)."""
    return {name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")}


def masked_lm_logits(backbone, sequence_output, mask_positions):
    """keras-hub's MaskedLMHead tied to the backbone's token embedding.

    Its transform takes the backbone's feed-forward activation, as BERT's
    prediction head takes `hidden_act` (a `ZooBertBackbone`'s `activation`;
    exact GELU for keras-hub's BertBackbone, which records none). The head
    computes in float32 under any mixed-precision policy: its logits feed a
    softmax, and it adds its float32 bias without casting it."""
    head = keras_hub.layers.MaskedLMHead(
        token_embedding=backbone.token_embedding,
        intermediate_activation=activation_function(getattr(backbone, "activation", "gelu")),
        dtype="float32", name="mlm_head")
    return head(sequence_output, mask_positions=mask_positions)


def fill_mask_signature(logits_fn, encoder, top_k):
    """`serving_default` for MLM: raw strings -> top-k tokens for every [MASK]."""
    vocabulary = tf.constant(encoder.vocabulary)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serving_default(text):
        token_ids, segment_ids, padding_mask = encoder.encode(text)
        is_mask = token_ids == encoder.mask_id
        seq_positions = tf.broadcast_to(tf.range(tf.shape(token_ids)[1]), tf.shape(token_ids))
        positions = tf.ragged.boolean_mask(seq_positions, is_mask)
        mask_count = tf.cast(positions.row_lengths(), tf.int32)
        width = tf.maximum(tf.reduce_max(mask_count), 1)
        dense_positions = positions.to_tensor(default_value=0)
        dense_positions = tf.pad(
            dense_positions, [[0, 0], [0, width - tf.shape(dense_positions)[1]]])
        logits = logits_fn({"token_ids": token_ids, "segment_ids": segment_ids,
                            "padding_mask": padding_mask, "mask_positions": dense_positions})
        probs, ids = tf.math.top_k(tf.nn.softmax(tf.cast(logits, tf.float32)), k=top_k)
        return {"mask_positions": dense_positions, "mask_count": mask_count,
                "top_ids": ids, "top_tokens": tf.gather(vocabulary, ids), "top_probs": probs}
    return serving_default


@TASKS.register("mlm")
class MaskedLM(TaskPlugin):
    """Masked LM over single texts; outputs logits at the masked positions."""
    name = "mlm"
    families = (ENCODER,)
    data_fields = ("text",)
    config_class = MlmConfig

    min_seq_len = 3  # [CLS] one token [SEP]

    @classmethod
    def can_bucket(cls, config):
        return not config.packing  # packed rows are full: nothing to bucket

    @property
    def max_predictions(self):
        return prediction_slots(self.config, self.encoder.seq_len)

    def example_stream(self, examples):
        return packed_windows(examples, self.encoder) if self.config.packing else examples

    def encode(self, examples):
        """(token_ids, segment_ids, padding_mask) of a batch of the example stream."""
        if self.config.packing:
            return window_features(examples)
        return self.encoder.encode(examples["text"])

    def preprocess(self, examples, seed=None):
        token_ids, segment_ids, padding_mask = self.encode(examples)
        if seed is None:
            seed = tf.constant([0, 0], tf.int64)
        masked_ids, positions, labels, weights = mask_tokens(
            token_ids, self.encoder, self.config, self.max_predictions, seed)
        features = {"token_ids": masked_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask, "mask_positions": positions}
        return features, labels, weights

    def build_model(self, backbone):
        inputs = encoder_inputs()
        inputs["mask_positions"] = keras.Input((None,), dtype="int32", name="mask_positions")
        sequence = backbone({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        logits = masked_lm_logits(backbone, sequence["sequence_output"], inputs["mask_positions"])
        return keras.Model(inputs, logits, name="masked_lm")

    def loss(self, labels, outputs, weights):
        return sparse_cross_entropy_sum(labels, outputs, weights)

    def metrics(self, labels, outputs, weights):
        return {"masked_accuracy": accuracy_sum(labels, outputs, weights)}

    def eval_outputs(self, features, labels, outputs, weights):
        return row_nll(labels, outputs, weights, self.encoder.token_byte_lengths())

    def corpus_metrics(self, gathered):
        """Perplexity and bits per byte of the masked tokens."""
        return {"perplexity": perplexity(gathered), "bits_per_byte": bits_per_byte(gathered)}

    def serving_signatures(self, model):
        return {"serving_default": fill_mask_signature(
            lambda features: model(features, training=False), self.encoder, self.config.top_k)}

    def warmup_inputs(self):
        return {"text": ["the [MASK] is here ."]}
