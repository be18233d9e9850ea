"""Time to quality: a zoo recipe beside a peer's own recipe, same data, machine and budget.

For each pair, one side after the other, each in its own process whose clock
starts at its launch (imports, vocabulary learning and tracing included):

- zoo: the `zoo-train` command of the recipe, checkpointing every host loop,
  stopped by SIGTERM at the budget (the checkpoint it then saves, after the
  budget, is not used); its learning-rate schedule is sized to the budget
  (`steps_per_minute` of the pair, measured on this 2-core machine).
- peer: the published keras-hub recipe (ttq_peers), trained with `fit`,
  saving its weights just before each time point and stopping at the budget.

Then a third process scores, for each of `--points` fixed wall-time points, the
latest snapshot of each side taken by then, with the same metric code on the
same held-out data (ttq_data, ttq_eval), so evaluation is off both clocks.
Prints the two curves, each side's time to the target and the ratio zoo/peer,
and plots every pair (PNG with matplotlib, else SVG).

Pairs (data under --data_dir; a pair whose data is missing is skipped, saying so):
- char: tiny_shakespeare/input.txt, first 90% train, last 10% val; zoo
  gpt_mini --task=clm --tokenizer=char --text_mode=paragraph --seq_len=64 against
  keras-hub GPT2Backbone + GPT2CausalLM on UnicodeCodepointTokenizer ids (same
  size, context, batch and optimizer); val loss (nats per next symbol; the
  zoo's symbols are the characters with one [EOS] per paragraph in place of
  the blank line), target 1.55.
- mlm: imdb_unsup/unsup.txt, one review in 100 held out; zoo bert_mini --task=mlm
  with the peer's size, masking, optimizer and every other setting it has a flag
  for (3 layers, 512 inner, ReLU, Keras's initialisation, layer-norm epsilon
  1e-5, 25% masking, batches of 128 in file order, AdamW 5e-4 constant with
  epsilon 1e-7), one review per row, against keras.io's
  "Pretraining a Transformer from scratch with KerasHub"; both on one WordPiece
  vocab.txt learned before the clocks start; masked-token accuracy on one
  seeded masking of the held-out reviews (15%, 80/10/10); target: the peer's
  accuracy at the budget.
- translation: multi30k_en_de; zoo examples/multi30k/train.sh's zoo-train
  against keras.io's "English-to-Spanish translation with KerasHub" on en-de;
  val BLEU (sacrebleu, 13a, cased, greedy), target 30.

Example:
    python benchmarks/time_to_quality.py --pairs=char --budget_minutes=10 --plot=runs/ttq_char.png
    python benchmarks/time_to_quality.py --smoke          # every pair, about a minute a side
    # another zoo recipe against an earlier run's peer, then that run scored again:
    python benchmarks/time_to_quality.py --pairs=mlm --reuse_peer --workdir=runs/ttq_mlm2
    python benchmarks/time_to_quality.py --pairs=mlm --reuse_peer --workdir=runs/ttq_mlm3 \
        --zoo_flag=--model_overrides=num_layers=3,intermediate_dim=512,initializer=keras
    python benchmarks/time_to_quality.py --pairs=mlm --rescore --workdir=runs/ttq_mlm2
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags

import ttq_data
import ttq_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = "RESULT "
PAIRS = ("char", "mlm", "translation")

flags.DEFINE_list("pairs", list(PAIRS), "Pairs to run: char, mlm, translation.")
flags.DEFINE_float("budget_minutes", 10.0, "Training wall time of each side.")
flags.DEFINE_integer("points", 10, "Wall-time points the curves are scored at.")
flags.DEFINE_boolean("smoke", False, "About a minute a side, 3 points, small eval sets.")
flags.DEFINE_integer("eval_limit", 0, "At most this many val rows/reviews/sentences (0: all).")
flags.DEFINE_string("data_dir", os.path.join(ROOT, "..", "shared", "data"),
                    "Folder with tiny_shakespeare/, imdb_unsup/, multi30k_en_de/.")
flags.DEFINE_string("workdir", "", "Where runs go (default: a new temporary folder).")
flags.DEFINE_string("plot", "", "Plot file (.png needs matplotlib; else .svg is written).")
flags.DEFINE_string("char_model", "gpt_mini", "The char pair's model size (both sides).")
flags.DEFINE_integer("zoo_steps", 0, "The zoo's --train_steps (0: steps_per_minute * budget).")
flags.DEFINE_multi_string("zoo_flag", [], "A zoo-train flag put after the recipe's (the later "
                          "of two values wins), e.g. --zoo_flag=--task_config=packing=false.")
flags.DEFINE_boolean("reuse_peer", False,
                     "Where --workdir already holds a pair's data and peer snapshots from "
                     "an earlier run of the same budget, score those instead of training "
                     "the peer again (to try another zoo recipe; the zoo's model_dir must "
                     "be new).")
flags.DEFINE_boolean("rescore", False,
                     "Score the snapshots an earlier run in --workdir chose again, with "
                     "the current metric code, and print its curves (trains nothing).")
flags.DEFINE_enum("side", "", ["", "peer", "eval"], "Internal: run one part in this process.")
flags.DEFINE_string("pair", "", "Internal: the pair of --side.")
flags.DEFINE_float("t0", 0.0, "Internal: the side's launch time (time.time()).")
FLAGS = flags.FLAGS

#: Per pair: the metric, its target (None: the peer's value at the budget),
#: the data, and the zoo's measured steps per minute on this machine (sizes
#: the schedule to the budget).
SPECS = {
    "char": {"metric": "val loss", "lower": True, "target": 1.55,
             "data": "tiny_shakespeare/input.txt", "steps_per_minute": 60,
             "seq_len": 64, "batch_size": 32, "learning_rate": 1e-3},
    "mlm": {"metric": "masked accuracy", "lower": False, "target": None,
            "data": "imdb_unsup/unsup.txt", "steps_per_minute": 14, "vocab_size": 16000},
    "translation": {"metric": "val BLEU", "lower": False, "target": 30.0,
                    "data": "multi30k_en_de/train.en", "steps_per_minute": 30},
}


def _zoo_command(pair, pairdir, steps, loop):
    spec, data = SPECS[pair], FLAGS.data_dir
    common = [f"--train_steps={steps}", f"--steps_per_loop={loop}",
              f"--checkpoint_every={loop}", "--keep_checkpoints=100000", "--noexport",
              "--seed=0", f"--model_dir={os.path.join(pairdir, 'zoo')}"]
    warmup = max(1, min(200, steps // 10))
    if pair == "char":  # README's char recipe, the schedule sized to the budget
        return ["zoo-train", f"--model={FLAGS.char_model}", "--task=clm", "--tokenizer=char",
                "--text_mode=paragraph", f"--train_data={pairdir}/train.txt",
                f"--seq_len={spec['seq_len']}", f"--global_batch_size={spec['batch_size']}",
                f"--learning_rate={spec['learning_rate']}", f"--warmup_steps={warmup}"] + common
    if pair == "mlm":  # every setting of the peer's the zoo has a flag for: 0.237 at 60
        # minutes against BERT's settings' 0.157 (benchmarks/README.md)
        return ["zoo-train", "--model=bert_mini", "--task=mlm",
                "--model_overrides=num_layers=3,intermediate_dim=512,activation=relu,"
                "initializer=keras,layer_norm_epsilon=1e-5",
                "--task_config=mask_rate=0.25,max_predictions=32,packing=false",
                f"--train_data={pairdir}/train.txt", f"--vocab={pairdir}/vocab.txt",
                "--seq_len=128", "--global_batch_size=128", "--learning_rate=5e-4",
                "--warmup_steps=0", "--decay=constant", "--clip_norm=0",
                "--weight_decay=0.004", "--adam_epsilon=1e-7", "--shuffle_buffer=1"] + common
    mt = os.path.join(data, "multi30k_en_de")  # examples/multi30k/train.sh
    return ["zoo-train", "--model=transformer_small", "--task=translation",
            f"--train_data={mt}/train.en,{mt}/train.de", "--tokenizer=sentencepiece_bpe",
            "--vocab_size=8000", "--nolowercase", "--seq_len=64", "--global_batch_size=128",
            "--batching=bucket", f"--warmup_steps={warmup}", "--learning_rate=1e-3",
            "--task_config=label_smoothing=0.1"] + common


def _env():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (os.path.dirname(os.path.abspath(__file__)), ROOT,
                    os.environ.get("PYTHONPATH")) if p))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _runnable(command):
    """A zoo console script's command line as this interpreter's `-m` module
    run, so it works whether or not the environment's bin folder is on PATH."""
    script, *args = command
    return [sys.executable, "-m", "zoo.cli." + script[len("zoo-"):]] + args


def _zoo_steps(pair, budget):
    return FLAGS.zoo_steps or max(20, int(SPECS[pair]["steps_per_minute"] * budget / 60))


def _run_zoo(pair, pairdir, budget):
    """zoo-train until it ends or the budget, then SIGTERM; its checkpoints' times."""
    steps = _zoo_steps(pair, budget)
    loop = max(2, steps // (FLAGS.points * 3))  # about three checkpoints per interval
    command = _zoo_command(pair, pairdir, steps, loop) + FLAGS.zoo_flag
    with open(os.path.join(pairdir, "zoo.log"), "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        t0 = time.time()
        process = subprocess.Popen(_runnable(command), stdout=log, stderr=subprocess.STDOUT,
                                   env=_env())
        while process.poll() is None and time.time() - t0 < budget:
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=600)
    model_dir = os.path.join(pairdir, "zoo")
    names = [n for n in (os.listdir(model_dir) if os.path.isdir(model_dir) else [])
             if n.startswith("ckpt-") and n.endswith(".index")]  # (none: stopped early)
    return {"command": " ".join(command), "snapshots": [
        {"time": os.path.getmtime(os.path.join(model_dir, n)) - t0,
         "path": os.path.join(model_dir, n[:-len(".index")]), "step": int(n[5:-6])}
        for n in names]}


def _run_peer(pair, pairdir, budget, grace=60):
    """The peer's process, stopped if it runs `grace` seconds past the budget (a
    first step that ends so late gives no point); its snapshots.json."""
    t0 = time.time()
    with open(os.path.join(pairdir, "peer.log"), "w") as log:
        process = subprocess.Popen(_child_args("peer", pair, pairdir, t0=t0), stdout=log,
                                   stderr=subprocess.STDOUT, env=_env())
        try:
            process.wait(timeout=budget + grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            log.write(f"\nstopped {grace} s after the budget\n")
    if process.returncode and process.returncode != -signal.SIGKILL:
        raise SystemExit(f"{pair}: the peer process failed (exit {process.returncode}); see "
                         f"{os.path.join(pairdir, 'peer.log')}")
    path = os.path.join(pairdir, "peer", "snapshots.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _child_args(side, pair, pairdir, **extra):
    args = [sys.executable, os.path.abspath(__file__), f"--side={side}", f"--pair={pair}",
            f"--workdir={pairdir}", f"--data_dir={FLAGS.data_dir}",
            f"--points={FLAGS.points}", f"--eval_limit={FLAGS.eval_limit}",
            f"--budget_minutes={FLAGS.budget_minutes}", f"--zoo_steps={FLAGS.zoo_steps}",
            f"--char_model={FLAGS.char_model}"]
    return args + [f"--{k}={v}" for k, v in extra.items()]


def _child(side, pair, pairdir, timeout):
    args = _child_args(side, pair, pairdir)
    done = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=timeout)
    with open(os.path.join(pairdir, f"{side}.log"), "w") as log:
        log.write(done.stdout + done.stderr)
    found = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not found:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
        raise SystemExit(f"{pair}: the {side} process failed (exit {done.returncode})")
    return json.loads(found[-1][len(RESULT):])


def _settings(pair):
    """What the peer and eval processes need besides the pair's folder."""
    spec = SPECS[pair]
    settings = {"data_dir": FLAGS.data_dir, "eval_limit": FLAGS.eval_limit}
    if pair == "char":
        import dataclasses

        from plugins import MODELS, load_plugins
        load_plugins()
        config = dataclasses.asdict(MODELS.get(FLAGS.char_model).config)
        config.pop("vocabulary_size", None)
        steps = _zoo_steps(pair, FLAGS.budget_minutes * 60)
        settings.update(model_config=config, seq_len=spec["seq_len"], optimizer={
            "seq_len": spec["seq_len"], "batch_size": spec["batch_size"],
            "learning_rate": spec["learning_rate"], "train_steps": steps,
            "warmup_steps": max(1, min(200, steps // 10))})
    return settings


def _side_main():
    """--side=peer: train the peer; --side=eval: score the chosen snapshots."""
    pairdir, pair, budget = FLAGS.workdir, FLAGS.pair, FLAGS.budget_minutes * 60
    settings = _settings(pair)
    if FLAGS.side == "peer":
        import ttq_peers
        workdir = os.path.join(pairdir, "peer")
        os.makedirs(workdir, exist_ok=True)
        if pair == "char":
            result = ttq_peers.train_char(os.path.join(pairdir, "train.txt"), workdir,
                                          settings["model_config"], settings["optimizer"],
                                          FLAGS.t0, budget, FLAGS.points)
        elif pair == "mlm":
            result = ttq_peers.train_mlm(os.path.join(pairdir, "train.txt"),
                                         os.path.join(pairdir, "vocab.txt"), workdir,
                                         FLAGS.t0, budget, FLAGS.points)
        else:
            result = ttq_peers.train_translation(os.path.join(FLAGS.data_dir, "multi30k_en_de"),
                                                 workdir, FLAGS.t0, budget, FLAGS.points)
    else:
        import ttq_eval
        with open(os.path.join(pairdir, "chosen.json"), encoding="utf-8") as handle:
            chosen = json.load(handle)
        result = ttq_eval.evaluate_pair(pair, chosen, pairdir, settings)
    print(RESULT + json.dumps(result), flush=True)


def _prepare(pair, pairdir):
    """The pair's splits (and the MLM vocabulary) before either clock starts."""
    source = os.path.join(FLAGS.data_dir, SPECS[pair]["data"])
    if pair == "char":
        ttq_data.split_text(source, pairdir)
    elif pair == "mlm":
        ttq_data.split_lines(source, pairdir)
        vocab_size = 2000 if FLAGS.smoke else SPECS[pair]["vocab_size"]
        subprocess.run(_runnable(["zoo-vocab", f"--train_data={pairdir}/train.txt",
                                  f"--vocab_size={vocab_size}",
                                  f"--output={pairdir}/vocab.txt"]),
                       check=True, capture_output=True, env=_env())


def _run_pair(pair, pairdir, budget):
    os.makedirs(pairdir, exist_ok=True)
    earlier_peer = os.path.join(pairdir, "peer", "snapshots.json")
    reuse = FLAGS.reuse_peer and os.path.exists(earlier_peer)
    if reuse and os.path.exists(os.path.join(pairdir, "zoo")):
        raise SystemExit(f"{pair}: --reuse_peer trains a new zoo side, but "
                         f"{os.path.join(pairdir, 'zoo')} holds an earlier one (zoo-train "
                         "would resume it); move it aside first")
    if not reuse:
        _prepare(pair, pairdir)
    zoo = _run_zoo(pair, pairdir, budget)
    if reuse:  # (the same splits, vocabulary and budget; scored again below)
        print(f"{pair}: the peer's snapshots of an earlier run, from {earlier_peer}")
        with open(earlier_peer, encoding="utf-8") as handle:
            peer = json.load(handle)
    else:
        peer = _run_peer(pair, pairdir, budget)
    points = ttq_data.time_points(budget, FLAGS.points)
    chosen = {"zoo": [s for s in ttq_data.pick_snapshots(zoo["snapshots"], points) if s],
              "peer": [s for s in ttq_data.pick_snapshots(peer, points) if s]}
    chosen = {side: list({s["path"]: s for s in snaps}.values())
              for side, snaps in chosen.items()}
    with open(os.path.join(pairdir, "chosen.json"), "w", encoding="utf-8") as handle:
        json.dump(chosen, handle)
    return _score_pair(pair, pairdir, budget, zoo["command"])


def _score_pair(pair, pairdir, budget, zoo_command):
    """Scores the snapshots in the pair's chosen.json (in a process of its own):
    the curves at the time points, the target, each side's time to it."""
    spec = SPECS[pair]
    points = ttq_data.time_points(budget, FLAGS.points)
    scores = _child("eval", pair, pairdir, 7200)
    target = spec["target"]
    if target is None:  # the peer's value at the budget
        target = scores["peer"][-1][1] if scores.get("peer") else float("nan")
    curves = {side: ttq_data.curve_at([(t, m) for t, m, _ in scores.get(side, [])], points)
              for side in ("zoo", "peer")}
    times = {side: ttq_data.time_to_target([(t, m) for t, m, _ in scores.get(side, [])],
                                           target, spec["lower"]) for side in ("zoo", "peer")}
    return {"pair": pair, "metric": spec["metric"], "lower": spec["lower"], "target": target,
            "points": points, "curves": curves, "times": times, "scores": scores,
            "zoo_command": zoo_command, "budget": budget}


def _rescore_pair(pair, pairdir, budget):
    """--rescore: the earlier run's chosen snapshots scored again (its zoo
    command is zoo.log's first line)."""
    if not os.path.exists(os.path.join(pairdir, "chosen.json")):
        raise SystemExit(f"{pair}: --rescore needs an earlier run in {pairdir} "
                         "(no chosen.json there)")
    with open(os.path.join(pairdir, "zoo.log"), encoding="utf-8") as handle:
        return _score_pair(pair, pairdir, budget, handle.readline().strip())


def main(argv):
    del argv
    if FLAGS.side:
        _side_main()
        return
    if FLAGS.smoke:
        FLAGS.budget_minutes = min(FLAGS.budget_minutes, 1.0)
        FLAGS.points = min(FLAGS.points, 3)
        FLAGS.eval_limit = FLAGS.eval_limit or 64
    unknown = sorted(set(FLAGS.pairs) - set(PAIRS))
    if unknown:
        raise app.UsageError(f"unknown pairs {unknown}; choose from {', '.join(PAIRS)}")
    workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="zoo-ttq-")
    budget, results = FLAGS.budget_minutes * 60, []
    started = time.time()
    for pair in FLAGS.pairs:
        if not os.path.exists(os.path.join(FLAGS.data_dir, SPECS[pair]["data"])):
            print(f"{pair}: skipped, no {os.path.join(FLAGS.data_dir, SPECS[pair]['data'])}")
            continue
        run = _rescore_pair if FLAGS.rescore else _run_pair
        results.append(run(pair, os.path.join(workdir, pair), budget))
        ttq_report.print_result(results[-1])
    print(f"wall time {time.time() - started:.0f} s; load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if results:
        path = ttq_report.plot(results,
                               FLAGS.plot or os.path.join(workdir, "time_to_quality.png"))
        print(f"plot: {path}")
        with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
    if not FLAGS.workdir:
        print(f"runs kept in {workdir} (snapshots included); remove when done")


if __name__ == "__main__":
    app.run(main)
