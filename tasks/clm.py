"""Causal language modelling (GPT pretraining objective), with generation.

Documents are tokenized, each followed by the end-of-sequence token, and
packed into rows of `seq_len + 1` ids with no padding; the model predicts
every next token. Evaluation reports loss, token accuracy and perplexity.
The export's `generate` signature (also `serving_default`) takes prompt
strings and returns completions, decoded as `--task_config` (or
`zoo-export --decoding`) says: greedy, top_k, top_p or beam.

Example:
    zoo-train --model=gpt_mini --task=clm --tokenizer=char --text_mode=paragraph \\
              --train_data=tiny_shakespeare/input.txt --model_dir=runs/gpt
    zoo-predict --export_dir=runs/gpt/export "ROMEO:"
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from plugins.task import DECODER
from tasks.generative import DecodingTask, token_loss, token_metrics
from zoo.evaluate.corpus_metrics import bits_per_byte, perplexity
from zoo.data.pipeline.packing import pack_documents
from zoo.train.losses import row_nll
from zoo.serve.generation import DecodingConfig, new_tokens
from zoo.models.gpt import causal_lm


@dataclasses.dataclass(frozen=True)
class ClmConfig(DecodingConfig):
    pass


@TASKS.register("clm")
class CausalLM(DecodingTask):
    """Next-token prediction over packed documents; generation when serving."""
    name = "clm"
    families = (DECODER,)
    data_fields = ("text",)
    config_class = ClmConfig
    signature_names = ("serving_default", "generate")
    supports_bucketing = False  # packed rows have no padding
    min_seq_len = 3  # generation: [EOS] a prompt token, one new token

    def example_stream(self, examples):
        return pack_documents(examples, self.encoder, self.encoder.seq_len + 1)

    def preprocess(self, rows, seed=None):
        features = {"token_ids": rows[:, :-1],
                    "padding_mask": tf.ones_like(rows[:, :-1], tf.int32)}
        return features, rows[:, 1:], tf.ones_like(rows[:, 1:], tf.float32)

    def build_model(self, backbone):
        return self.with_sampler(causal_lm(backbone))

    def loss(self, labels, outputs, weights):
        return token_loss(labels, outputs, weights)

    def metrics(self, labels, outputs, weights):
        return token_metrics(labels, outputs, weights)

    def eval_outputs(self, features, labels, outputs, weights):
        return row_nll(labels, outputs, weights, self.encoder.token_byte_lengths())

    def corpus_metrics(self, gathered):
        return {"perplexity": perplexity(gathered), "bits_per_byte": bits_per_byte(gathered)}

    # -- generation ------------------------------------------------------
    def prompt_ids(self, prompts, max_new):
        """[EOS] + prompt tokens (as after a document in training), keeping the
        last tokens that leave room for `max_new` within seq_len; right-padded."""
        room = self.encoder.seq_len - max_new
        ids = self.encoder.tokenize(prompts)
        ids = tf.cast(ids, tf.int32)[:, -(room - 1):]
        starts = tf.fill([ids.nrows(), 1], self.encoder.eos_id)
        ids = tf.concat([starts, ids], axis=1)
        width = tf.minimum(tf.cast(tf.reduce_max(ids.row_lengths()), tf.int32) + max_new,
                           self.encoder.seq_len)
        token_ids = ids.to_tensor(self.encoder.pad_id, shape=tf.stack([ids.nrows(out_type=tf.int32), width]))
        mask = tf.sequence_mask(ids.row_lengths(), width)
        return token_ids, mask

    def generate(self, model, prompts):
        """Prompt strings -> (completion strings, completion ids as ragged)."""
        max_new = min(self.config.max_new_tokens, self.encoder.seq_len - 2)
        token_ids, prompt_mask = self.prompt_ids(prompts, max_new)
        out = model.generate_step({"token_ids": token_ids, "padding_mask": prompt_mask},
                                  stop_token_ids=[self.encoder.eos_id])
        ids = new_tokens(out["token_ids"], out["padding_mask"], prompt_mask,
                         self.encoder.eos_id, max_new)
        return self.encoder.detokenize(ids), ids

    def serving_signatures(self, model):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prompt")])
        def generate(prompt):
            completion, ids = self.generate(model, prompt)
            return {"completion": completion, "completion_ids": ids.to_tensor(-1)}
        return {"serving_default": generate, "generate": generate}

    def warmup_inputs(self):
        return {"prompt": ["The "]}
