"""Where the project's bare training step spends its time: ops by time, from a
tf.profiler trace, beside the step's share of the measured matmul peak.

The step is peer_throughput's "bare step" (the TaskRunner loop zoo-train runs,
on one cached full-width batch repeated; same flags): after --warmup_steps it
times --steps, then traces --profile_steps with `tf.profiler.experimental` and
reads the trace (XSpace protobuf) itself. Each TensorFlow op's self time (its
time less that of ops nested in it on the same thread) is summed by op type;
with several threads the op times add up to more than the wall time. Prints
the step's FLOP/s as a share of a 2048x2048 float32 matmul loop (benchlib's
FLOP count), then the op types by time, the share of the matmul kinds, and
the op time by part of the step: the optimizer's update (ops under its name
scope, clipping and weight decay included), the backward pass (under
`gradient_tape/`) and the rest (forward pass, loss, input).

Example:
    python benchmarks/step_profile.py --model=bert_mini --task=mlm --steps=20
    python benchmarks/step_profile.py --model=bert_mini --profile_dir=runs/profile
    python benchmarks/step_profile.py --model=bert_mini --model_overrides=dropout=0
"""
import collections
import glob
import os
import re
import shutil
import tempfile

from absl import app, flags

import benchlib
import peer_throughput

flags.DEFINE_integer("profile_steps", 5, "Steps traced by the profiler.")
flags.DEFINE_integer("top", 20, "Op types shown.")
flags.DEFINE_string("profile_dir", "", "Keep the trace here (for TensorBoard's profile "
                    "tab); default: a temporary folder, removed.")
FLAGS = flags.FLAGS
#: Op types that are matrix products (the ones the peak is measured on).
MATMUL_KINDS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_MklMatMul",
                "_MklBatchMatMul", "_MklBatchMatMulV2", "_MklFusedMatMul",
                "_MklNativeFusedMatMul", "_FusedMatMul", "Einsum", "_MklEinsum")


def _is_op(name):
    """TensorFlow ops show as `name:Type` (other events: `Class::Method`, ...)."""
    return name.count(":") == 1 and re.fullmatch(r"[A-Za-z_]\w*", name.rsplit(":", 1)[1])


def part_of_step(op_name, optimizer_name):
    """'optimizer', 'backward' or 'forward and rest', from an op's full name and
    the optimizer's name scope (Keras names it after its class).

        >>> part_of_step("while/body/_1/pre_reduced_adam_w/Mul_3", "pre_reduced_adam_w")
        'optimizer'
        >>> part_of_step("while/body/_1/gradient_tape/dense/MatMul", "pre_reduced_adam_w")
        'backward'
    """
    if re.search(rf"(^|/){re.escape(optimizer_name)}(_\d+)?/", op_name):
        return "optimizer"
    return "backward" if re.search(r"(^|/)gradient_tape/", op_name) else "forward and rest"


def op_self_times(xspace_path, key=lambda name, kind: kind):
    """{key(op name, op type): self time in seconds} of the TensorFlow ops in a
    trace file (by default keyed by op type)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    space = xplane_pb2.XSpace()
    with open(xspace_path, "rb") as handle:
        space.ParseFromString(handle.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            ops = sorted(((e.offset_ps, e.duration_ps, names.get(e.metadata_id, ""))
                          for e in line.events if _is_op(names.get(e.metadata_id, ""))),
                         key=lambda e: (e[0], -e[1]))
            stack = []  # [end, op type, time of nested ops, own duration]
            for start, duration, name in ops:
                while stack and stack[-1][0] <= start:
                    end, kind, nested, own = stack.pop()
                    totals[kind] += own - nested
                if stack:
                    stack[-1][2] += duration
                stack.append([start + duration, key(*name.rsplit(":", 1)), 0, duration])
            for end, kind, nested, own in stack:
                totals[kind] += own - nested
    return {kind: ps / 1e12 for kind, ps in totals.items()}


def _summed(times, index):
    """{key[index]: seconds} from {key tuple: seconds}."""
    summed = collections.Counter()
    for key, seconds in times.items():
        summed[key[index]] += seconds
    return dict(summed)


def _print_shares(title, times, total, top=None):
    print(f"{title:<32} {'ms/step':>9} {'share':>7}")
    for label, seconds in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{label:<32} {1e3 * seconds / FLAGS.profile_steps:>9.1f} "
              f"{100 * seconds / total:>6.1f}%")


def main(argv):
    del argv
    import tensorflow as tf
    FLAGS.workdir = tempfile.mkdtemp(prefix="zoo-profile-")
    trace_dir = FLAGS.profile_dir or os.path.join(FLAGS.workdir, "trace")
    try:
        prep = peer_throughput.prepare()
        peak = peer_throughput.matmul_peak()["flops_per_sec"]
        strategy, run, optimizer, step, model_config = peer_throughput.build_project_side(prep)
        runner = benchlib.make_runner(strategy, run, optimizer, step,
                                      peer_throughput.bare_batches(prep, run), FLAGS.jit_compile)
        runner.train(tf.constant(FLAGS.warmup_steps, tf.int32))
        logs = runner.train(tf.constant(FLAGS.steps, tf.int32))
        figures = peer_throughput.step_figures(logs, FLAGS.global_batch_size, model_config,
                                               run.backbone)
        tf.profiler.experimental.start(trace_dir)
        traced = runner.train(tf.constant(FLAGS.profile_steps, tf.int32))
        tf.profiler.experimental.stop()
        wall = FLAGS.profile_steps / traced["steps_per_sec"]
        trace = sorted(glob.glob(os.path.join(trace_dir, "plugins", "profile", "*",
                                              "*.xplane.pb")))[-1]
        by_kind_and_part = op_self_times(
            trace, key=lambda name, kind: (kind, part_of_step(name, optimizer.name)))
        times, parts = (_summed(by_kind_and_part, i) for i in (0, 1))
        total = sum(times.values())
        print(f"{FLAGS.model} {FLAGS.task}, batch {FLAGS.global_batch_size} x {FLAGS.seq_len}, "
              f"vocab {prep['vocab_size']:,}: {figures['steps_per_sec']:.3f} steps/s, "
              f"{figures['flops_per_sec'] / 1e9:.1f} GFLOP/s = "
              f"{100 * figures['flops_per_sec'] / peak:.1f}% of the matmul peak "
              f"({peak / 1e9:.1f} GFLOP/s)")
        print(f"traced {FLAGS.profile_steps} steps: {wall:.2f} s wall, {total:.2f} s of op "
              "time (summed over threads)")
        _print_shares("op type", times, total, FLAGS.top)
        matmul = sum(v for k, v in times.items() if k in MATMUL_KINDS)
        print(f"matrix products: {100 * matmul / total:.1f}% of op time")
        _print_shares("part of the step", parts, total)
    finally:
        shutil.rmtree(FLAGS.workdir, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
