"""zoo-train: trains a model on a task; resumes from --model_dir automatically.

With no data flags it trains a tiny BERT with MLM on a generated corpus:

    zoo-train                                            # built-in default
    zoo-train --model=bert_mini --task=mlm --train_data='corpus/*.txt' --model_dir=runs/pre
"""
from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "model_dir", "export_dir", "train_data", "eval_data",
                            "text_mode", "columns", "vocab_size", "vocab_sample", "lowercase",
                            "plugins", "seed")
flags.DEFINE_enum("mode", "train", ["train", "eval"], "train (and evaluate on --eval_data), "
                  "or only evaluate the latest checkpoint of --model_dir on --eval_data.")
flags.DEFINE_string("model", "bert_tiny", "Registered model name (see zoo-list).")
flags.DEFINE_string("task", "mlm", "Registered task name (see zoo-list).")
flags.DEFINE_string("model_overrides", "", "Preset fields to change, e.g. num_layers=6,dropout=0.")
flags.DEFINE_string("task_config", "", "Task options, e.g. mask_rate=0.2.")
flags.DEFINE_string("tokenizer", "auto", "wordpiece, sentencepiece_unigram, sentencepiece_bpe, "
                    "char, byte or byte_bpe (GPT-2's, from --vocab=bpe.json or a Hugging Face "
                    "--init_checkpoint); auto: that of --init_checkpoint, else wordpiece for "
                    "encoders, sentencepiece_bpe for decoders, sentencepiece_unigram for "
                    "encoder-decoders.")
flags.DEFINE_string("vocab", "", "Tokenizer file (vocab.txt, spm.model, chars.json); empty: "
                    "train one from --train_data.")
flags.DEFINE_string("init_checkpoint", "", "Backbone weights from a pretraining model_dir, "
                    "checkpoint, keras-hub preset dir or Hugging Face dir (BERT, GPT-2, T5: "
                    "config.json, model.safetensors, tokenizer files; it gives the sizes and "
                    "the tokenizer) (only when --model_dir has no checkpoint).")
flags.DEFINE_boolean("allow_partial_restore", False, "Train even if some backbone weights "
                     "do not match --init_checkpoint.")
flags.DEFINE_string("freeze", "", "Parts not trained: embeddings, layers:A-B, backbone (comma list).")
flags.DEFINE_float("layer_lr_decay", 1.0, "Per-layer learning-rate decay in (0, 1]: the top layer "
                   "gets lr*d, layer 0 lr*d^L, the embeddings lr*d^(L+1); 1: off. BERT and GPT.")
flags.DEFINE_integer("lora_rank", 0, "LoRA: train rank-R adapters (W + A@B*alpha/R) on "
                     "--lora_targets and the task head; the rest of the backbone is frozen. "
                     "zoo-export merges them into the weights. 0: off.")
flags.DEFINE_float("lora_alpha", 0.0, "LoRA scale numerator: adapters are scaled by "
                   "alpha/--lora_rank; 0: the rank (scale 1, Keras's default).")
flags.DEFINE_string("lora_targets", "attention", "Layers LoRA adapts (comma list): attention "
                    "(query and value projections), all (every Dense/EinsumDense of the "
                    "backbone), or fnmatch patterns on layer paths or names "
                    "('transformer_layer_1/*', 'key').")
flags.DEFINE_integer("train_steps", 300, "Total optimizer steps (resume continues up to this).")
flags.DEFINE_integer("global_batch_size", 32, "Examples per step over all replicas.")
flags.DEFINE_integer("seq_len", 128, "Tokens per example, [CLS] and [SEP] included.")
flags.DEFINE_float("learning_rate", 5e-4, "Peak learning rate.")
flags.DEFINE_integer("warmup_steps", -1, "Linear warmup steps; -1: 10% of --train_steps.")
flags.DEFINE_enum("decay", "linear", ["linear", "cosine", "constant"], "Decay after warmup.")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "adafactor"], "adamw, or adafactor (steps "
                  "relative to each weight's scale: T5's optimizer, try --learning_rate=1e-2).")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay.")
flags.DEFINE_float("adam_epsilon", 1e-6, "AdamW's epsilon, added to the root of the second "
                   "moment (BERT's 1e-6; Keras's default is 1e-7).")
flags.DEFINE_float("clip_norm", 1.0, "Global gradient norm clip; 0 disables.")
flags.DEFINE_enum("nan_policy", "stop", ["stop", "skip"], "A NaN/Inf loss: stop training, or "
                  "skip that step's update (counted; see --max_skipped_steps).")
flags.DEFINE_integer("max_skipped_steps", 10, "--nan_policy=skip: stop once more steps than "
                     "this were skipped in the run.")
flags.DEFINE_integer("eval_every", 0, "Evaluate every N steps (0: only at the end).")
flags.DEFINE_integer("eval_steps", -1, "Batches per evaluation; -1: the whole --eval_data.")
flags.DEFINE_integer("steps_per_loop", 50, "Steps per host loop (one progress line each).")
flags.DEFINE_integer("checkpoint_every", 500, "Save a checkpoint every N steps.")
flags.DEFINE_float("grace_period", 25.0, "Seconds a preemption leaves between SIGTERM and the "
                   "kill (Spot VMs, Kubernetes: 30). SIGTERM saves a checkpoint after the "
                   "current step; a warning says when one step plus a save takes longer.")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept in --model_dir.")
flags.DEFINE_integer("shuffle_buffer", 10000, "Examples per shuffled block, each epoch anew (1: no "
                     "shuffle).")
flags.DEFINE_integer("input_shards", 0, "Shards of the training stream; each worker reads only "
                     "its own (every N-th file, or every N-th example when there are fewer "
                     "files). 0: one per worker. The batches depend on it, not on the "
                     "strategy: --input_shards=2 on one device trains like two workers.")
flags.DEFINE_enum("strategy", "auto",
                  ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                  "auto: mirrored over all GPUs if any, else one_device. multi_worker: the "
                  "machines of TF_CONFIG or --worker_hosts (only the chief writes). tpu: --tpu.")
flags.DEFINE_integer("num_gpus", -1, "GPUs to use (per worker); -1: all visible.")
flags.DEFINE_list("worker_hosts", [], "--strategy=multi_worker without TF_CONFIG: every "
                  "worker's host:port, the chief first (start each with the same list).")
flags.DEFINE_integer("task_index", -1, "This worker's position in --worker_hosts (0: chief).")
flags.DEFINE_string("tpu", "", "--strategy=tpu: a Cloud TPU name, grpc://host:port, or 'local' "
                    "on a TPU VM; empty: from the environment (TPU_NAME).")
flags.DEFINE_integer("cpu_replicas", 1, "Split the CPU into N logical devices (testing mirrored).")
flags.DEFINE_boolean("export", True, "Export a SavedModel when training ends.")
# -- speed: precision, XLA, batching, gradient accumulation (zoo.train.precision, zoo.data.pipeline.bucketing,
#    zoo.train.accumulation) --
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Compute dtype of training; variables, checkpoints and exports stay float32. "
                  "mixed_float16 scales the loss dynamically.")
flags.DEFINE_boolean("jit_compile", False, "Compile each micro-batch's forward and backward "
                     "with XLA (turned off, with a notice, where it is known to fail).")
flags.DEFINE_enum("batching", "plain", ["plain", "bucket"], "plain: batches in stream order; "
                  "bucket: examples of similar length share a batch, so less padding is "
                  "computed (tasks of independent examples; not clm or span_corruption).")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches per optimizer step; each replica's "
                     "share of --global_batch_size is split into this many.")


def train_options(flag_values=flags.FLAGS):
    """The parsed zoo-train flags as the TrainOptions the runtime takes (each option
    is the flag of the same name)."""
    import dataclasses

    from zoo.train.options import TrainOptions
    return TrainOptions(**{field.name: flag_values[field.name].value
                           for field in dataclasses.fields(TrainOptions)})


def main(argv):
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from zoo.cli.devices import report_devices
    report_devices(gpus_wanted=flags.FLAGS.num_gpus > 0)  # (before TensorFlow's first use)
    from zoo.train.job import train_from_flags
    train_from_flags(train_options())


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
