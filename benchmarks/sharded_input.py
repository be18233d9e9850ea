"""What each worker of a multi-worker run reads: input shards against every
worker reading the whole stream, with `--workers` local processes at once.

On the generated corpus of `benchmarks/input_pipeline.py` (`--size_mb`, as
`--files` files), every worker process builds its training stream of packed
MLM batches and takes one epoch's worth of global batches from it:

- `whole`: each worker reads every file and builds every global batch (what
  a multi-worker run did before input shards; each replica then took its
  slice);
- `sharded`: each worker reads only its input shard (`--input_shards` = the
  number of workers: its files) and builds its part of every global batch.

It prints, per worker, the bytes the process read from files (`rchar` of
/proc/self/io, counted from after the vocab is loaded), the examples/s and
tokens/s of its stream, and the wall time, with the corpus's size beside them.

    python benchmarks/sharded_input.py --size_mb=20 --workers=2 --formats=txt,tfrecord

Its numbers are figures, not assertions.
"""
import json
import os
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_integer("workers", 2, "Local worker processes, run at once.")
flags.DEFINE_list("formats", ["txt", "tfrecord"], "Formats (of benchmarks/input_pipeline.py).")
flags.DEFINE_integer("batch_size", 64, "Rows per global batch.")
flags.DEFINE_string("one", "", "(internal) format,mode,worker to measure in this process.")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generated_corpus import define_corpus_flags, vocab_path, write_corpus  # noqa: E402

define_corpus_flags(size_mb=20)
FLAGS = flags.FLAGS


def bytes_read():
    """Bytes this process has read with read() and friends, all threads."""
    with open("/proc/self/io", encoding="ascii") as handle:
        return int(next(line for line in handle if line.startswith("rchar:")).split()[1])


def epoch_batches(paths, fmt):
    """Global batches of packed rows in one epoch of the corpus (from its size)."""
    size = sum(os.path.getsize(p.replace(f".{fmt}", ".txt")) for p in paths)
    return max(1, int(size / 4.5 / FLAGS.seq_len / FLAGS.batch_size))  # ~4.5 bytes a token


def measure(fmt, mode, worker, paths, vocab):
    from tasks.mlm import MaskedLM, MlmConfig
    from zoo.data.pipeline.stream import training_dataset
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    task = MaskedLM(MlmConfig(), WordPieceEncoder(vocab, seq_len=FLAGS.seq_len))
    sharding = dict(input_shards=FLAGS.workers, worker=worker, workers=FLAGS.workers) \
        if mode == "sharded" else {}
    steps = epoch_batches(paths, fmt)
    before, started = bytes_read(), time.perf_counter()
    iterator = iter(training_dataset(paths, task, FLAGS.batch_size, seed=0, **sharding))
    rows = 0
    for _ in range(steps):
        features, _, _ = next(iterator)
        rows += int(features["token_ids"].shape[0])
    elapsed = time.perf_counter() - started
    return {"read_mb": (bytes_read() - before) / 1e6, "seconds": elapsed,
            "rows_per_s": rows / elapsed, "tokens_per_s": rows * FLAGS.seq_len / elapsed,
            "steps": steps, "rows": rows}


def main(argv):
    del argv
    paths = write_corpus(FLAGS.workdir, FLAGS.size_mb, FLAGS.files)
    if FLAGS.one:
        fmt, mode, worker = FLAGS.one.split(",")
        vocab = os.path.join(FLAGS.workdir, "vocab.txt")
        print(json.dumps(measure(fmt, mode, int(worker), paths[fmt], vocab)))
        return
    vocab_path(FLAGS.workdir, paths["txt"])
    print(f"{FLAGS.workers} local workers at once; global batches of {FLAGS.batch_size} "
          f"MLM rows of {FLAGS.seq_len}, one epoch's worth; {FLAGS.files} files per format")
    print("| format | corpus MB | mode | worker | read MB | read / corpus | rows/s | "
          "tokens/s | seconds |")
    print("|---" * 9 + "|")
    common = [f"--{name}={getattr(FLAGS, name)}" for name in
              ("size_mb", "files", "workers", "batch_size", "seq_len", "workdir")]
    for fmt in FLAGS.formats:
        corpus = sum(os.path.getsize(p) for p in paths[fmt]) / 1e6
        for mode in ("whole", "sharded"):
            processes = [subprocess.Popen(
                [sys.executable, __file__, f"--one={fmt},{mode},{w}", *common],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for w in range(FLAGS.workers)]
            for worker, process in enumerate(processes):
                out = process.communicate()[0]
                if process.returncode:
                    raise RuntimeError(f"worker {worker} failed: {out}")
                f = json.loads(out.strip().splitlines()[-1])
                print(f"| {fmt} | {corpus:.1f} | {mode} | {worker} | {f['read_mb']:.1f} | "
                      f"{f['read_mb'] / corpus:.2f} | {f['rows_per_s']:,.0f} | "
                      f"{f['tokens_per_s']:,.0f} | {f['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
