"""A kill storm: one zoo-train job under 10 SIGKILLs, each resumed with the same
command, must end with the weights and the export of an uninterrupted run.

The kills aim at the phases by what the job shows: the vocab ("training a ...
vocab"), steps (a progress line, then a random delay), checkpoint writes (a
`ckpt-*_temp` directory or new `ckpt-N` file appears: the model's files,
then its input position and the state file follow), evaluation (an eval is due) and the export
(an `.N.tmp-*` directory appears in export/). A kill whose moment never comes
(the job ended first) is skipped and counted. Dropout is 0, as for bit-exact
comparisons; the checkpoint's tensors (but its save counter) and the export's
variables must be equal bit for bit.

Example:
    python benchmarks/kill_storm.py --workdir=/tmp/storm --kills=10 --seed=0
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

COMMON = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--vocab_size=300",
          "--train_steps=100", "--steps_per_loop=5", "--checkpoint_every=10", "--eval_every=20",
          "--eval_steps=4", "--shuffle_buffer=50", "--model_overrides=dropout=0",
          "--vocab_sample=0"]
TARGETS = ("vocab", "step", "checkpoint", "step", "eval", "checkpoint", "step", "eval",
           "export", "step")


def command(model_dir, train, evaluation):
    return [sys.executable, "-m", "zoo.cli.train", f"--model_dir={model_dir}",
            f"--train_data={train}", f"--eval_data={evaluation}", *COMMON]


def _temp_dirs(model_dir):
    export = os.path.join(model_dir, "export")
    checkpoints = [n for n in os.listdir(model_dir) if n.startswith("ckpt-")] \
        if os.path.isdir(model_dir) else []
    exports = [n for n in os.listdir(export) if ".tmp-" in n] if os.path.isdir(export) else []
    return checkpoints, exports


def run_until_killed(args, model_dir, target, rng):
    """Runs the job; kills it at `target`'s moment. Returns whether it was killed."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    killed = threading.Event()

    def kill(delay=0.0):
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed.set()

    def watch_files():
        checkpoints_before, exports_before = (set(n) for n in _temp_dirs(model_dir))
        while process.poll() is None and not killed.is_set():
            checkpoints, exports = (set(n) for n in _temp_dirs(model_dir))
            if (target == "checkpoint" and checkpoints - checkpoints_before) or \
                    (target == "export" and exports - exports_before):
                kill()
            time.sleep(0.001)
    if target in ("checkpoint", "export"):
        threading.Thread(target=watch_files, daemon=True).start()
    for line in process.stdout:
        if killed.is_set():
            break
        if target == "vocab" and line.startswith("training a"):
            kill(rng.uniform(0.0, 0.3))
        elif target == "step" and line.startswith("step "):
            kill(rng.uniform(0.0, 1.0))
        elif target == "eval" and line.startswith("step ") and \
                int(line.split()[1].split("/")[0]) % 20 == 15:
            kill(rng.uniform(0.5, 2.0))  # (the eval at the next multiple of 20)
    process.wait()
    return killed.is_set()


def tensors(prefix):
    import tensorflow as tf
    reader = tf.train.load_checkpoint(prefix)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith(("_CHECKPOINTABLE", "save_counter"))}


def compare(straight, stormed):
    import tensorflow as tf
    pairs = [(tf.train.latest_checkpoint(straight), tf.train.latest_checkpoint(stormed)),
             (os.path.join(straight, "export", "1", "variables", "variables"),
              os.path.join(stormed, "export", "1", "variables", "variables"))]
    differing = []
    for a, b in pairs:
        ta, tb = tensors(a), tensors(b)
        if ta.keys() != tb.keys():
            differing.append(f"{b}: other tensors")
        differing += [f"{b}: {n}" for n in ta if n in tb and ta[n].dtype != object and
                      not np.array_equal(ta[n], tb[n])]
    return differing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/kill_storm")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    flags = parser.parse_args()
    rng = random.Random(flags.seed)
    shutil.rmtree(flags.workdir, ignore_errors=True)
    os.makedirs(flags.workdir)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from zoo.data.builtin import write_corpus
    train = write_corpus(os.path.join(flags.workdir, "train.txt"), 400, seed=1)
    evaluation = write_corpus(os.path.join(flags.workdir, "eval.txt"), 40, seed=2)
    straight, stormed = (os.path.join(flags.workdir, n) for n in ("straight", "stormed"))
    started = time.time()
    subprocess.run(command(straight, train, evaluation), check=True, capture_output=True)
    print(f"uninterrupted run: {time.time() - started:.0f}s")
    kills, skipped = 0, []
    for target in (TARGETS * (flags.kills // len(TARGETS) + 1))[:flags.kills]:
        if run_until_killed(command(stormed, train, evaluation), stormed, target, rng):
            kills += 1
            print(f"killed: {target}", flush=True)
        else:
            skipped.append(target)
            print(f"not killed (the job ended before its moment): {target}", flush=True)
    final = subprocess.run(command(stormed, train, evaluation), capture_output=True, text=True)
    if final.returncode:
        sys.exit(f"the last resume failed:\n{final.stdout}")
    differing = compare(straight, stormed)
    print(f"{kills} kills ({len(skipped)} skipped); weights and export "
          f"{'DIFFER: ' + ', '.join(differing[:5]) if differing else 'equal, bit for bit'}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
