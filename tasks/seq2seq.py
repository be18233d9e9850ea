"""Shared base of encoder-decoder (T5) tasks: teacher-forced features, loss,
cached decoding of source strings, and the text-to-text serving signature.

The decoder input is `[BOS] + target` and the labels are `target + [EOS]`;
decoding starts from `[BOS]` and stops at `[EOS]`.

Example (a subclass):
    class Summarize(Seq2SeqTask):
        data_fields = ("source", "target")
        def preprocess(self, examples, seed=None):
            return self.teacher_forcing(self.source_ids(examples["source"]),
                                        self.encoder.tokenize(examples["target"]))
"""
import tensorflow as tf

from plugins.task import ENCODER_DECODER
from tasks.generative import DecodingTask, token_loss, token_metrics
from zoo.serve.generation import new_tokens
from zoo.models.encoder_decoder import seq2seq_lm


def _dense(ragged, pad_id):
    ids = tf.cast(ragged, tf.int32)
    return ids.to_tensor(pad_id), tf.cast(tf.sequence_mask(ids.row_lengths()), tf.int32)


class Seq2SeqTask(DecodingTask):
    """Subclasses define data fields and `preprocess`; serving maps the input
    strings of `serving_input` to the strings of `serving_output`."""
    families = (ENCODER_DECODER,)
    serving_input = "source"
    serving_output = "translation"
    label_smoothing = 0.0

    def with_eos(self, ragged_ids, limit=None):
        """Ids truncated to `limit - 1` (default seq_len) plus [EOS]."""
        limit = limit or self.encoder.seq_len
        ids = tf.cast(ragged_ids, tf.int32)[:, :limit - 1]
        ends = tf.fill([ids.nrows(), 1], self.encoder.eos_id)
        return tf.concat([ids, ends], axis=1)

    def source_ids(self, texts):
        return self.with_eos(self.encoder.tokenize(texts))

    def teacher_forcing(self, encoder_ids, target_ids):
        """(features, labels, weights) from ragged encoder ids (with [EOS]) and
        ragged target ids (without)."""
        labels = self.with_eos(target_ids)
        starts = tf.fill([labels.nrows(), 1], self.encoder.bos_id)
        decoder_ids = tf.concat([starts, labels[:, :-1]], axis=1)
        encoder_tokens, encoder_mask = _dense(encoder_ids, self.encoder.pad_id)
        decoder_tokens, decoder_mask = _dense(decoder_ids, self.encoder.pad_id)
        label_tokens, weights = _dense(labels, self.encoder.pad_id)
        features = {"encoder_token_ids": encoder_tokens, "encoder_padding_mask": encoder_mask,
                    "decoder_token_ids": decoder_tokens, "decoder_padding_mask": decoder_mask}
        return features, label_tokens, tf.cast(weights, tf.float32)

    def build_model(self, backbone):
        return self.with_sampler(seq2seq_lm(backbone))

    def loss(self, labels, outputs, weights):
        return token_loss(labels, outputs, weights, self.label_smoothing)

    def metrics(self, labels, outputs, weights):
        return token_metrics(labels, outputs, weights)

    # -- decoding --------------------------------------------------------
    def decode_ids(self, model, encoder_tokens, encoder_mask):
        """Cached decoding from encoder ids: ragged generated ids (no [EOS])."""
        max_new = self.config.max_new_tokens
        batch = tf.shape(encoder_tokens)[0]
        decoder_ids = tf.concat([tf.fill([batch, 1], self.encoder.bos_id),
                                 tf.fill([batch, max_new], self.encoder.pad_id)], axis=1)
        prompt_mask = tf.concat([tf.ones([batch, 1], tf.bool),
                                 tf.zeros([batch, max_new], tf.bool)], axis=1)
        out = model.generate_step(
            {"encoder_token_ids": encoder_tokens, "encoder_padding_mask": encoder_mask,
             "decoder_token_ids": decoder_ids, "decoder_padding_mask": prompt_mask},
            stop_token_ids=[self.encoder.eos_id])
        return new_tokens(out["decoder_token_ids"], out["decoder_padding_mask"], prompt_mask,
                          self.encoder.eos_id, max_new)

    def decode(self, model, texts):
        """Input strings -> (output strings, ragged output ids)."""
        tokens, mask = _dense(self.source_ids(texts), self.encoder.pad_id)
        ids = self.decode_ids(model, tokens, mask)
        return self.encoder.detokenize(ids), ids

    def serving_signatures(self, model):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                                    name=self.serving_input)])
        def run(texts):
            strings, ids = self.decode(model, texts)
            return {self.serving_output: strings, "output_ids": ids.to_tensor(-1),
                    "output_tokens": tf.strings.reduce_join(
                        self.encoder.id_to_token(ids), axis=-1, separator=" ")}
        return {"serving_default": run, self.signature_names[-1]: run}
