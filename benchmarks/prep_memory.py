"""zoo-prep throughput and peak memory on a generated corpus (default 1 GB).

Writes a plain-text corpus of random-word documents (20-120 words; by
default 5% exact and 5% one-word-edited copies of recent documents) to a
temporary directory, cleans it with zoo.prep.clean.prepare, and prints rows/s,
MB/s (per wall and per CPU second, which a busy machine does not skew),
the peak RSS before and after (resource.getrusage; the baseline holds
the imports, TensorFlow included through zoo.data.formats.readers) and the bytes the
duplicate indexes hold. Figures only; nothing asserts.

Example:
    python benchmarks/prep_memory.py --size_mb=100
    python benchmarks/prep_memory.py                      # 1 GB: about 3 CPU minutes of prep
"""
import os
import random
import resource
import shutil
import tempfile
import time

from absl import app, flags

flags.DEFINE_integer("size_mb", 1024, "Size of the generated corpus in MB.")
flags.DEFINE_float("dup_rate", 0.1, "Fraction of documents that copy a recent one "
                   "(half exact, half with one word changed).")
flags.DEFINE_float("near_dup_threshold", 0.8, "As zoo-prep's flag.")
flags.DEFINE_integer("seed", 0, "Seed of the generated corpus.")
FLAGS = flags.FLAGS


def write_corpus(path, size_bytes, dup_rate, seed):
    """Random-word documents, one a line; returns the number of lines."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
             for _ in range(50000)]
    recent, lines, written = [], 0, 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < size_bytes:
            roll = rng.random()
            if recent and roll < dup_rate / 2:
                doc = rng.choice(recent)
            elif recent and roll < dup_rate:
                doc = rng.choice(recent).split(" ")
                doc[rng.randrange(len(doc))] = rng.choice(words)
                doc = " ".join(doc)
            else:
                doc = " ".join(rng.choices(words, k=rng.randint(20, 120)))
                recent = recent[-999:] + [doc]
            handle.write(doc + "\n")
            written += len(doc) + 1
            lines += 1
    return lines


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv):
    del argv
    if FLAGS.size_mb < 1:
        raise app.UsageError("--size_mb must be at least 1")
    from zoo.prep.clean import PrepConfig, format_report, prepare
    workdir = tempfile.mkdtemp(prefix="prep_memory-")
    try:
        corpus = os.path.join(workdir, "corpus.txt")
        start = time.time()
        lines = write_corpus(corpus, FLAGS.size_mb << 20, FLAGS.dup_rate, FLAGS.seed)
        print(f"generated {lines} documents, {FLAGS.size_mb} MB in {time.time() - start:.0f} s")
        baseline = peak_rss_mb()
        start, cpu = time.time(), cpu_seconds()
        report = prepare([corpus], os.path.join(workdir, "clean.txt"),
                         PrepConfig(near_dup_threshold=FLAGS.near_dup_threshold))
        seconds, cpu = time.time() - start, cpu_seconds() - cpu
        peak = peak_rss_mb()
        print(format_report(report))
        for what, spent in (("wall", seconds), ("CPU", cpu)):
            print(f"{what} {spent:.1f} s: {report['rows_read'] / spent:,.0f} rows/s, "
                  f"{FLAGS.size_mb / spent:.2f} MB/s")
        print(f"peak RSS {peak:,.0f} MB (before prep {baseline:,.0f} MB, growth "
              f"{peak - baseline:,.0f} MB); duplicate indexes {report['index_bytes'] / 2**20:,.0f} MB "
              f"= {report['index_bytes'] / max(1, report['rows_written']):.0f} bytes per kept row")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
