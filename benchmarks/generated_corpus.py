"""The generated corpus the input benchmarks read, in every training format.

Example:
    >>> define_corpus_flags(size_mb=20)   # --size_mb, --files, --seq_len, --workdir
    >>> paths = write_corpus("/tmp/zoo_input_pipeline", size_mb=20, files=4)
    >>> vocab = vocab_path("/tmp/zoo_input_pipeline", paths["txt"])
"""
import gzip
import json
import os

from absl import flags


def define_corpus_flags(size_mb):
    """The flags of the corpus and its rows, shared by the input benchmarks."""
    flags.DEFINE_integer("size_mb", size_mb, "Corpus size (MB of text).")
    flags.DEFINE_integer("files", 4, "Files per format.")
    flags.DEFINE_integer("seq_len", 128, "Tokens per row.")
    flags.DEFINE_string("workdir", "/tmp/zoo_input_pipeline", "Where the corpus is written.")


def write_corpus(workdir, size_mb, files):
    """Generated lines in every format; returns {format: [paths]}."""
    import tensorflow as tf

    from zoo.data.builtin import generate_lines
    os.makedirs(workdir, exist_ok=True)
    stamp = os.path.join(workdir, f"done-{size_mb}-{files}")
    paths = {fmt: [os.path.join(workdir, f"part{i}.{fmt}") for i in range(files)]
             for fmt in ("txt", "txt.gz", "tsv", "jsonl", "tfrecord")}
    if os.path.exists(stamp):
        return paths
    lines, size, seed = [], 0, 0
    while size < size_mb * 1e6:
        batch = generate_lines(20000, seed=seed)
        seed += 1
        lines += batch
        size += sum(len(line) + 1 for line in batch)
    for index in range(files):
        part = lines[index::files]
        text = "\n".join(part) + "\n"
        with open(paths["txt"][index], "w", encoding="utf-8") as handle:
            handle.write(text)
        with gzip.open(paths["txt.gz"][index], "wt", encoding="utf-8") as handle:
            handle.write(text)
        with open(paths["tsv"][index], "w", encoding="utf-8") as handle:
            handle.write("text\tlabel\n" + "".join(f"{line}\t{i % 2}\n"
                                                   for i, line in enumerate(part)))
        with open(paths["jsonl"][index], "w", encoding="utf-8") as handle:
            handle.write("".join(json.dumps({"text": line}) + "\n" for line in part))
        with tf.io.TFRecordWriter(paths["tfrecord"][index]) as writer:
            for line in part:
                feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[line.encode()]))
                writer.write(tf.train.Example(features=tf.train.Features(
                    feature={"text": feature})).SerializeToString())
    open(stamp, "w").close()
    return paths


def vocab_path(workdir, paths):
    from zoo.data.tokenizers.vocab_sample import sample_texts
    from zoo.data.tokenizers.wordpiece import train_wordpiece_vocab
    path = os.path.join(workdir, "vocab.txt")
    if not os.path.exists(path):
        train_wordpiece_vocab(sample_texts(paths, budget=10 ** 7, seed=0), 8000, path)
    return path
