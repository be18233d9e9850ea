"""The training input pipeline alone, per data format: tf.data's native readers
against the Python reader (`Dataset.from_generator`) they replaced, in one run.

Writes a generated corpus of about `--size_mb` MB as `--files` files of each
format (txt, txt.gz, tsv, jsonl, tfrecord), trains a WordPiece vocab on it once,
then, in a fresh process per format and reader, measures:

- examples/s of the raw readers (`read_examples`), one pass over every file;
- tokens/s of the whole training stream of packed MLM (`training_dataset`:
  shuffle, tokenize, pack, mask) over `--batches` batches;
- the time from building the stream to its first batch;
- the time a resumed run takes to its first batch at each of `--resume_at`:
  the native pipeline restores its iterator from a checkpoint written there
  (the time to write it is not counted); the Python reader skips the batches;
- the process's peak RSS.

    python benchmarks/input_pipeline.py --size_mb=20 --resume_at=0,1000,5000 \
        --python_resume_at=0,1000

Its numbers are figures, not assertions.
"""
import json
import os
import resource
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_list("formats", ["txt", "txt.gz", "tsv", "jsonl", "tfrecord"], "Formats.")
flags.DEFINE_list("resume_at", ["0", "1000", "10000"], "Batches to resume at.")
flags.DEFINE_list("python_resume_at", [], "Of those, where the Python reader is timed (it "
                  "re-reads every skipped batch; empty: all of them).")
flags.DEFINE_integer("batches", 300, "Batches timed for tokens/s.")
flags.DEFINE_integer("batch_size", 32, "Rows per batch.")
flags.DEFINE_string("one", "", "(internal) format,reader to measure in this process.")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generated_corpus import define_corpus_flags, vocab_path, write_corpus  # noqa: E402

define_corpus_flags(size_mb=50)
FLAGS = flags.FLAGS


def measure(fmt, reader, paths, vocab):
    """One format and reader, in this process: a dict of figures."""
    import tensorflow as tf

    from tasks.mlm import MaskedLM, MlmConfig
    from zoo.data.pipeline.stream import training_dataset
    from zoo.data.formats.readers import read_examples
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    native = reader == "native"
    examples = read_examples(paths, native=native, parallel_files=8 if native else 1)
    started = time.perf_counter()
    count = int(examples.batch(4096).reduce(  # (a reduce step per example would cost more
        tf.constant(0, tf.int64),                # than reading it)
        lambda total, batch: total + tf.cast(tf.shape(batch["text"])[0], tf.int64)))
    figures = {"examples_per_s": count / (time.perf_counter() - started)}

    task = MaskedLM(MlmConfig(), WordPieceEncoder(vocab, seq_len=FLAGS.seq_len))

    def stream(start_batch=0):
        if native:
            return training_dataset(paths, task, FLAGS.batch_size, seed=0, start_batch=0)
        from zoo.data.formats import readers  # the Python reader, as training used it before
        original = readers.read_examples

        def python_reader(*args, **kwargs):
            kwargs.update(native=False, parallel_files=1)
            return original(*args, **kwargs)
        import zoo.data.pipeline.stream as pipeline
        pipeline.read_examples = python_reader
        try:
            return training_dataset(paths, task, FLAGS.batch_size, seed=0,
                                    start_batch=start_batch)
        finally:
            pipeline.read_examples = original

    started = time.perf_counter()
    iterator = iter(stream())
    next(iterator)
    figures["first_batch_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(FLAGS.batches):
        next(iterator)
    figures["tokens_per_s"] = FLAGS.batches * FLAGS.batch_size * FLAGS.seq_len / (
        time.perf_counter() - started)
    position = 1 + FLAGS.batches
    points = FLAGS.resume_at if native or not FLAGS.python_resume_at else FLAGS.python_resume_at
    for at in sorted(int(b) for b in points):
        if native:
            while position < at:
                next(iterator)
                position += 1
            saved = tf.train.Checkpoint(input=iterator).save(
                os.path.join(FLAGS.workdir, f"ckpt-{fmt}-{at}"))
            started = time.perf_counter()
            resumed = iter(stream())
            tf.train.Checkpoint(input=resumed).restore(saved)
            next(resumed)
            position_note = at if at >= position else position
        else:
            started = time.perf_counter()
            next(iter(stream(at)))
            position_note = at
        figures[f"resume_{at}_s"] = time.perf_counter() - started
        figures[f"resume_{at}_at"] = position_note
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main(argv):
    del argv
    paths = write_corpus(FLAGS.workdir, FLAGS.size_mb, FLAGS.files)
    if FLAGS.one:
        fmt, reader = FLAGS.one.split(",")
        vocab = os.path.join(FLAGS.workdir, "vocab.txt")
        print(json.dumps(measure(fmt, reader, paths[fmt], vocab)))
        return
    vocab_path(FLAGS.workdir, paths["txt"])
    size = sum(os.path.getsize(p) for p in paths["txt"]) / 1e6
    print(f"corpus: {size:.0f} MB of text in {FLAGS.files} files per format; MLM rows of "
          f"{FLAGS.seq_len}, batches of {FLAGS.batch_size}")
    print("| format | reader | examples/s | tokens/s (MLM stream) | first batch s | "
          + " | ".join(f"resume at {b} s" for b in FLAGS.resume_at) + " | peak RSS MB |")
    print("|---" * (6 + len(FLAGS.resume_at)) + "|")
    flags_ = [f"--{name}={getattr(FLAGS, name)}" for name in
              ("size_mb", "files", "batches", "batch_size", "seq_len", "workdir")]
    flags_.append("--resume_at=" + ",".join(FLAGS.resume_at))
    flags_.append("--python_resume_at=" + ",".join(FLAGS.python_resume_at))
    for fmt in FLAGS.formats:
        for reader in ("python", "native"):
            out = subprocess.run([sys.executable, __file__, f"--one={fmt},{reader}", *flags_],
                                 capture_output=True, text=True, check=True).stdout
            f = json.loads(out.strip().splitlines()[-1])
            resumes = " | ".join(f"{f[f'resume_{b}_s']:.2f}" if f"resume_{b}_s" in f else "-"
                                 for b in FLAGS.resume_at)
            print(f"| {fmt} | {reader} | {f['examples_per_s']:,.0f} | {f['tokens_per_s']:,.0f} | "
                  f"{f['first_batch_s']:.2f} | {resumes} | {f['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
