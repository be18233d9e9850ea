"""The project's training step beside keras-hub's own recipe, same model and data.

One run prepares the tokenizers, then measures each side in its own
subprocess (so peak RSS is per side and --cpu_replicas can split the CPU
before TensorFlow starts) and prints both, with project/keras-hub ratios:

- project: the TaskRunner/orbit loop zoo-train runs (benchlib.time_ours), fed by
  zoo.data.pipeline.stream.training_dataset (the file read by a Python generator,
  batches tokenized whole; MLM and CLM documents packed into full rows with
  no padding, the tasks' default).
- keras-hub: its task model and preprocessor with `fit` (steps_per_execution 1,
  `compile(jit_compile="auto")`, which Keras resolves to False on a CPU-only
  machine; the run prints what it resolved to). Lines in memory ->
  from_tensor_slices -> shuffle -> preprocessor map (AUTOTUNE) -> batch ->
  prefetch (--peer_preprocess=example), or -> batch -> `fit` on the model with
  its preprocessor attached, which maps it over batches
  (--peer_preprocess=batch, what keras-hub's `Task.fit` does with raw strings).
  - BERT MLM: BertMaskedLM + BertMaskedLMPreprocessor with a BertTokenizer on
    the WordPiece vocab.txt the project trains (same ids, same vocab size);
    mask rate 0.15 (80/10/10) and as many mask slots as the project's task.
  - GPT CLM: GPT2CausalLM + GPT2CausalLMPreprocessor with a GPT2Tokenizer. The
    project's decoders default to a SentencePiece BPE (DEFAULT_TOKENIZERS), which
    GPT2Tokenizer cannot read, so the peer gets GPT-2's own kind: a byte-level
    BPE trained on the same lines by HF `tokenizers` (a keras-hub dependency)
    to the project's vocab size; both models get the project's vocab size.
    The preprocessor pads each line to seq_len (one line per row).

Equal footing: the same preset config (layers, hidden, heads, intermediate,
dropout) and vocab size, seq_len, batch, float32, warm-up and timed steps;
AdamW (lr 1e-4 with the same warm-up/decay schedule, weight decay 0.01 except
biases and LayerNorm, epsilon 1e-6, global-norm clipping 1.0). keras-hub
batches are timed with a Callback from the end of the last warm-up batch.

"bare step": the training step on one cached, full-width batch [batch,
seq_len] repeated (no input pipeline), for both sides. The share of matmul
peak compares model FLOP/s (benchlib.FLOP_NOTE) with the float32 rate of a
2048x2048 tf.matmul loop measured first. Peak RSS is ru_maxrss of each side's
process, with its growth after the imports. Figures only; nothing asserts.

Example:
    python benchmarks/peer_throughput.py --model=bert_mini --task=mlm --steps=30
    python benchmarks/peer_throughput.py --model=gpt_mini --task=clm --seq_len=128
    python benchmarks/peer_throughput.py --model=bert_mini --mode=scaling
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags

import benchlib

flags.DEFINE_string("model", "bert_tiny", "Registered model name (bert_* or gpt_*).")
flags.DEFINE_enum("task", "mlm", ["mlm", "clm"], "mlm for bert_*, clm for gpt_*.")
flags.DEFINE_string("data", "auto", benchlib.DATA_HELP + ".")
flags.DEFINE_integer("steps", 30, "Timed steps of each side.")
flags.DEFINE_integer("warmup_steps", 10, "Untimed steps first (tracing, caches).")
flags.DEFINE_integer("global_batch_size", 32, "Examples per step.")
flags.DEFINE_integer("seq_len", 128, "Tokens per example.")
flags.DEFINE_integer("vocab_size", 8000, "Vocab size trained from the data.")
flags.DEFINE_string("model_overrides", "", "Preset fields changed on both sides, e.g. dropout=0.")
flags.DEFINE_enum("mode", "compare", ["compare", "scaling"],
                  "compare: project vs keras-hub; scaling: the project's step at 1 and 2 "
                  "replicas (mirrored over 2 logical CPUs).")
flags.DEFINE_enum("peer_preprocess", "example", ["example", "batch"],
                  "keras-hub preprocessor mapped per example (then batched) or per batch.")
flags.DEFINE_enum("batching", "plain", ["plain", "bucket"], "The project side's --batching "
                  "(bucket: MLM batches of similar length).")
flags.DEFINE_boolean("jit_compile", False, "The project side's --jit_compile (XLA).")
flags.DEFINE_float("matmul_seconds", 3.0, "Duration of the matmul peak measurement.")
flags.DEFINE_enum("side", "", ["", "prep", "matmul", "ours", "keras_hub"],
                  "Internal: run one side in this process.")
flags.DEFINE_string("workdir", "", "Internal: the shared working directory.")
flags.DEFINE_integer("cpu_replicas", 1, "Internal: logical CPUs for the project's side.")
FLAGS = flags.FLAGS
RESULT = "RESULT "
PASSED = ("model", "task", "data", "steps", "warmup_steps", "global_batch_size", "seq_len",
          "vocab_size", "peer_preprocess", "matmul_seconds", "batching",
          "jit_compile", "model_overrides")


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def prepare():
    """Trains the project's tokenizer (and the GPT-2 BPE for a decoder) into workdir."""
    from plugins import MODELS, TASKS, load_plugins
    from plugins.task import DECODER
    from zoo.data.tokenizers.encoders import DEFAULT_TOKENIZERS, VOCAB_FILES, train_tokenizer
    from zoo.data.formats.readers import read_examples
    load_plugins()
    spec, task_class = MODELS.get(FLAGS.model), TASKS.get(FLAGS.task)
    task_class.check_family(FLAGS.model, spec.family)
    fields = task_class.fields_for(task_class.config_class())
    path = os.path.abspath(benchlib.data_file(FLAGS.data, FLAGS.workdir, FLAGS.task))
    texts = read_examples([path], fields).map(lambda example: example[fields[0]])
    kind = DEFAULT_TOKENIZERS[spec.family]
    size = train_tokenizer(kind, texts, FLAGS.vocab_size,
                           os.path.join(FLAGS.workdir, VOCAB_FILES[kind]), family=spec.family)
    lines = [t.decode("utf-8") for t in texts.as_numpy_iterator()]
    with open(os.path.join(FLAGS.workdir, "lines.json"), "w") as handle:
        json.dump(lines, handle)
    if spec.family == DECODER:
        from tokenizers import ByteLevelBPETokenizer
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(lines, vocab_size=size, special_tokens=["<|endoftext|>"])
        bpe.save_model(FLAGS.workdir, "gpt2")
    return {"path": path, "fields": list(fields), "family": spec.family, "tokenizer": kind,
            "vocab_file": VOCAB_FILES[kind], "vocab_size": size, "lines": len(lines)}


def matmul_peak():
    """float32 FLOP/s of a 2048x2048 tf.matmul loop (the CPU's achievable peak)."""
    import tensorflow as tf
    n = 2048
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    tf.matmul(a, b).numpy()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < FLAGS.matmul_seconds:
        c = tf.matmul(a, b)
        count += 1
    c.numpy()
    return {"flops_per_sec": 2 * n ** 3 * count / (time.perf_counter() - started)}


def step_figures(logs, batch_size, config, backbone):
    width = logs["tokens_per_sec"] / (logs["steps_per_sec"] * batch_size)
    flops, non_embedding = benchlib.palm_flops_per_token(
        backbone, config.num_layers, config.hidden_dim, width)
    return {"steps_per_sec": logs["steps_per_sec"], "tokens_per_sec": logs["tokens_per_sec"],
            "nonpad_tokens_per_sec": logs["nonpad_tokens_per_sec"], "width": width,
            "flops_per_sec": flops * logs["tokens_per_sec"], "non_embedding": non_embedding}


def _model_config(prep):
    import dataclasses

    from plugins import MODELS, load_plugins
    load_plugins()
    from plugins import apply_overrides
    config = dataclasses.replace(MODELS.get(FLAGS.model).config, vocabulary_size=prep["vocab_size"])
    return apply_overrides(config, FLAGS.model_overrides)


def build_project_side(prep):
    """(strategy, run, optimizer, global step, model config) of the project's side,
    as zoo-train builds them (seeded)."""
    from zoo.train.distribute import create_strategy, split_cpu
    split_cpu(FLAGS.cpu_replicas)
    import dataclasses

    import keras

    from zoo.run_config import RunConfig
    keras.utils.set_random_seed(0)
    model_config = _model_config(prep)
    config = RunConfig(model=FLAGS.model, family=prep["family"],
                       model_config=dataclasses.asdict(model_config), task=FLAGS.task,
                       task_config={}, seq_len=FLAGS.seq_len, tokenizer=prep["tokenizer"],
                       vocab_file=prep["vocab_file"], data_fields=tuple(prep["fields"]))
    strategy = create_strategy("mirrored" if FLAGS.cpu_replicas > 1 else "one_device")
    run, optimizer, step = benchlib.build_ours(config, FLAGS.workdir, strategy, FLAGS.steps)
    return strategy, run, optimizer, step, model_config


def bare_batches(prep, run):
    """One full-width training batch of the project's pipeline, repeated."""
    import tensorflow as tf

    from zoo.data.pipeline.stream import training_dataset
    run.task.encoder.trim_padding = False  # the bare batch is full width, as keras-hub's
    batch = next(iter(training_dataset([prep["path"]], run.task, FLAGS.global_batch_size)))
    return tf.data.Dataset.from_tensors(batch).repeat()


def _ours(prep):
    from zoo.data.pipeline.stream import training_dataset
    baseline = _rss_mb()
    strategy, run, optimizer, step, model_config = build_project_side(prep)
    batch_size = FLAGS.global_batch_size
    timing = (FLAGS.warmup_steps, FLAGS.steps, FLAGS.jit_compile)
    dataset = training_dataset([prep["path"]], run.task, batch_size, batching=FLAGS.batching)
    logs = benchlib.time_ours(strategy, run, optimizer, step, dataset, *timing)
    bare = benchlib.time_ours(strategy, run, optimizer, step, bare_batches(prep, run), *timing)
    return {"end_to_end": step_figures(logs, batch_size, model_config, run.backbone),
            "bare": step_figures(bare, batch_size, model_config, run.backbone),
            "replicas": strategy.num_replicas_in_sync, "params": run.model.count_params(),
            "rss_baseline_mb": baseline, "rss_peak_mb": _rss_mb()}


def _peer_model(prep, model_config):
    """keras-hub's task model and preprocessor for the run's family."""
    import dataclasses

    import keras_hub

    from plugins.task import ENCODER
    from tasks.mlm import MlmConfig, prediction_slots
    fields = dataclasses.asdict(model_config)
    if prep["family"] == ENCODER:
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=os.path.join(FLAGS.workdir, prep["vocab_file"]), lowercase=True)
        config = MlmConfig()
        preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
            tokenizer, sequence_length=FLAGS.seq_len, mask_selection_rate=config.mask_rate,
            mask_selection_length=prediction_slots(config, FLAGS.seq_len),
            mask_token_rate=config.mask_token_rate, random_token_rate=config.random_token_rate)
        backbone = keras_hub.models.BertBackbone(**fields)
        return keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor), preprocessor
    with open(os.path.join(FLAGS.workdir, "gpt2-vocab.json"), encoding="utf-8") as handle:
        vocabulary = json.load(handle)
    with open(os.path.join(FLAGS.workdir, "gpt2-merges.txt"), encoding="utf-8") as handle:
        merges = [line.rstrip("\n") for line in handle if not line.startswith("#version")]
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    if tokenizer.vocabulary_size() > model_config.vocabulary_size:
        raise ValueError(f"the GPT-2 BPE has {tokenizer.vocabulary_size()} tokens, more than "
                         f"the model's {model_config.vocabulary_size}")
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer, sequence_length=FLAGS.seq_len)
    backbone = keras_hub.models.GPT2Backbone(**fields)
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor), preprocessor


def _keras_hub(prep):
    import keras
    import tensorflow as tf

    from zoo.train.optimizer import WarmupDecay
    baseline = _rss_mb()
    keras.utils.set_random_seed(0)
    model_config = _model_config(prep)
    model, preprocessor = _peer_model(prep, model_config)
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupDecay(benchlib.LEARNING_RATE, FLAGS.steps, 10 * FLAGS.steps),
        weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer, jit_compile="auto")
    with open(os.path.join(FLAGS.workdir, "lines.json"), encoding="utf-8") as handle:
        lines = json.load(handle)
    batch_size, warmup, steps = FLAGS.global_batch_size, FLAGS.warmup_steps, FLAGS.steps
    autotune = tf.data.AUTOTUNE

    def preprocessed():  # a fresh dataset each call: the same order, seeded
        texts = tf.data.Dataset.from_tensor_slices(lines).shuffle(10000, seed=0).repeat()
        if FLAGS.peer_preprocess == "example":
            texts = texts.map(preprocessor, num_parallel_calls=autotune)
            return texts.batch(batch_size, drop_remainder=True).prefetch(autotune)
        return texts.batch(batch_size, drop_remainder=True).map(preprocessor, autotune)

    if FLAGS.peer_preprocess == "example":
        model.preprocessor, dataset = None, preprocessed()
    else:  # fit maps the attached preprocessor over batches of strings
        dataset = tf.data.Dataset.from_tensor_slices(lines).shuffle(10000, seed=0).repeat() \
            .batch(batch_size, drop_remainder=True)
    logs = _fit_timed(model, dataset, warmup, steps)
    masks = [x["padding_mask"] for x, *_ in preprocessed().skip(warmup).take(steps)]
    logs.update(_token_rates(masks, steps, logs["steps_per_sec"]))
    batch = next(iter(preprocessed()))
    model.preprocessor = None
    bare = _fit_timed(model, tf.data.Dataset.from_tensors(batch).repeat(), warmup, steps)
    bare.update(_token_rates([batch[0]["padding_mask"]] * steps, steps, bare["steps_per_sec"]))
    backbone = model.backbone
    return {"end_to_end": step_figures(logs, batch_size, model_config, backbone),
            "bare": step_figures(bare, batch_size, model_config, backbone),
            "jit_compile": bool(model.jit_compile), "params": model.count_params(),
            "rss_baseline_mb": baseline, "rss_peak_mb": _rss_mb()}


def _token_rates(masks, steps, steps_per_sec):
    import numpy as np
    padded = sum(int(np.size(m)) for m in masks)
    effective = sum(int(np.sum(np.asarray(m, np.int64))) for m in masks)
    return {"tokens_per_sec": padded / steps * steps_per_sec,
            "nonpad_tokens_per_sec": effective / steps * steps_per_sec}


def _fit_timed(model, dataset, warmup, steps):
    """`fit` for warmup + steps batches; steps/s from the end of batch `warmup`."""
    import keras

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            if logs and "loss" in logs:
                float(keras.ops.convert_to_numpy(logs["loss"]))  # the step has finished
            self.ends.append(time.perf_counter())
    timer = BatchTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[timer])
    return {"steps_per_sec": steps / (timer.ends[warmup + steps - 1] - timer.ends[warmup - 1])}


def _child(side, **extra):
    """Runs one side in a subprocess; returns its result dict."""
    args = [f"--{name}={getattr(FLAGS, name)}" for name in PASSED]
    args += [f"--{name}={value}" for name, value in extra.items()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (benchlib.ROOT, os.environ.get("PYTHONPATH")) if p))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.time()
    done = subprocess.run([sys.executable, os.path.abspath(__file__), f"--side={side}",
                           f"--workdir={FLAGS.workdir}"] + args,
                          capture_output=True, text=True, env=env)
    found = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not found:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise SystemExit(f"the {side} side failed (exit {done.returncode})")
    print(f"[{side} side: {time.time() - started:.0f} s]", file=sys.stderr, flush=True)
    return json.loads(found[-1][len(RESULT):])


def _rows(title, sides, names, peak):
    """A table: one row per measure, one column per side, then a ratio."""
    print(f"{title:<26}" + "".join(f"{n:>16}" for n in names)
          + ("    ratio" if len(names) == 2 else ""))
    measures = [("steps/s", "steps_per_sec", "{:,.2f}"), ("mean width", "width", "{:,.0f}"),
                ("tokens/s (padded)", "tokens_per_sec", "{:,.0f}"),
                ("tokens/s (effective)", "nonpad_tokens_per_sec", "{:,.0f}"),
                ("model GFLOP/s", "flops_per_sec", "{:,.2f}")]
    for label, key, form in measures:
        values = [s[key] / (1e9 if key == "flops_per_sec" else 1) for s in sides]
        ratio = f"  {values[0] / values[1]:7.2f}" if len(values) == 2 and values[1] else ""
        print(f"  {label:<24}" + "".join(f"{form.format(v):>16}" for v in values) + ratio)
    if peak:
        print(f"  {'share of matmul peak':<24}"
              + "".join(f"{s['flops_per_sec'] / peak:>16.1%}" for s in sides))


def _compare(prep):
    peak = _child("matmul")["flops_per_sec"]
    ours, peer = _child("ours"), _child("keras_hub")
    print(f"matmul peak: {peak / 1e9:,.1f} GFLOP/s (float32 2048x2048 tf.matmul, "
          f"{FLAGS.matmul_seconds:.0f} s)")
    print(f"model {FLAGS.model} ({ours['params']:,} params / keras-hub {peer['params']:,}; "
          f"{ours['bare']['non_embedding']:,} non-embedding), task {FLAGS.task}, data "
          f"{prep['path']} ({prep['lines']:,} lines), vocab {prep['vocab_size']:,} "
          f"({prep['tokenizer']}), batch {FLAGS.global_batch_size}, seq_len {FLAGS.seq_len}, "
          f"{FLAGS.warmup_steps} warm-up + {FLAGS.steps} timed steps, float32")
    print(f"project: TaskRunner loop, --batching={FLAGS.batching}, "
          f"--jit_compile={FLAGS.jit_compile}")
    print(f"keras-hub: fit, steps_per_execution 1, jit_compile='auto' -> "
          f"{peer['jit_compile']}, preprocessor per {FLAGS.peer_preprocess}")
    names = ("project", "keras-hub")
    _rows("end to end", [ours["end_to_end"], peer["end_to_end"]], names, peak)
    _rows("bare step (cached batch)", [ours["bare"], peer["bare"]], names, peak)
    print("peak RSS MB (after imports)" + "".join(
        f"{s['rss_peak_mb']:>10,.0f} ({s['rss_baseline_mb']:,.0f})" for s in (ours, peer))
        + "   (ru_maxrss of each side's own process)")
    e2e = ours["end_to_end"]["nonpad_tokens_per_sec"] / peer["end_to_end"]["nonpad_tokens_per_sec"]
    bare = ours["bare"]["steps_per_sec"] / peer["bare"]["steps_per_sec"]
    print(f"project/keras-hub: end-to-end effective tokens/s {e2e:.2f}x, bare step {bare:.2f}x")


def _scaling():
    runs = [_child("ours", cpu_replicas=n) for n in (2, 1)]
    print(f"model {FLAGS.model}, task {FLAGS.task}, batch {FLAGS.global_batch_size} (global), "
          f"seq_len {FLAGS.seq_len}; the project's step, mirrored over logical CPUs of "
          f"{os.cpu_count()} cores")
    names = [f"{r['replicas']} replica(s)" for r in runs]
    _rows("end to end", [r["end_to_end"] for r in runs], names, 0)
    _rows("bare step (cached batch)", [r["bare"] for r in runs], names, 0)
    print("(ratio: 2 replicas / 1 replica)")


def main(argv):
    del argv
    if FLAGS.side:
        prep = None
        if FLAGS.side in ("ours", "keras_hub"):
            with open(os.path.join(FLAGS.workdir, "prep.json"), encoding="utf-8") as handle:
                prep = json.load(handle)
        sides = {"prep": prepare, "matmul": matmul_peak,
                 "ours": lambda: _ours(prep), "keras_hub": lambda: _keras_hub(prep)}
        result = sides[FLAGS.side]()
        if FLAGS.side == "prep":
            with open(os.path.join(FLAGS.workdir, "prep.json"), "w", encoding="utf-8") as handle:
                json.dump(result, handle)
        print(RESULT + json.dumps(result), flush=True)
        return
    FLAGS.workdir = tempfile.mkdtemp(prefix="zoo-peer-")
    try:
        prep = _child("prep")
        _compare(prep) if FLAGS.mode == "compare" else _scaling()
        print(f"FLOPs: {benchlib.FLOP_NOTE}")
    finally:
        shutil.rmtree(FLAGS.workdir, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
