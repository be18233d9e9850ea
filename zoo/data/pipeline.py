"""Input pipelines: raw examples -> shuffled, batched, preprocessed features.

Batches are preprocessed whole (tokenization is vectorised), in parallel and
in order; batch `i` gets the stateless seed `(seed, i)`, so masking is the same
on every run and on every strategy.

Example:
    >>> ds = training_dataset(paths, task, global_batch_size=32, seed=0)
    >>> features, labels, weights = next(iter(ds))
    >>> ds = training_dataset(paths, task, 32, batching="bucket")  # similar lengths per batch
"""
import tensorflow as tf

from zoo.data.bucketing import BATCHINGS, bucketed_batches, check_bucketing
from zoo.data.readers import read_examples

#: Training files read at once, interleaved one example each (zoo.data.native).
PARALLEL_FILES = 8


def _preprocessed(batches, task, seed, start_batch=0):
    batches = batches.skip(start_batch)
    indexed = tf.data.Dataset.zip((batches, tf.data.Dataset.counter(start=start_batch)))
    seed = tf.constant(seed, tf.int64)
    return indexed.map(
        lambda batch, index: task.preprocess(batch, seed=tf.stack([seed, index])),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    ).prefetch(tf.data.AUTOTUNE)


def training_dataset(paths, task, global_batch_size, seed=0, text_mode="line",
                     shuffle_buffer=10000, start_batch=0, batching="plain", columns=None):
    """Endless, shuffled stream of full global batches, from batch `start_batch`
    on (a resumed run skips the raw batches it already trained on, so it sees
    the same data and masks as an uninterrupted run). `batching="bucket"`
    groups examples of similar length into a batch (`zoo.data.bucketing`);
    `columns` ({field: column} or `--columns`) as in `zoo.data.readers.iter_rows`."""
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got '{batching}'")
    if batching == "bucket":
        check_bucketing(type(task), task.config)
    examples = read_examples(paths, task.data_fields, text_mode, columns,
                             parallel_files=PARALLEL_FILES)
    examples = (_shuffled_epochs(examples, shuffle_buffer, seed) if shuffle_buffer > 1
                else examples.repeat())
    stream = task.example_stream(examples)
    batches = (bucketed_batches(stream, task.text_fields, global_batch_size, task.encoder.seq_len)
               if batching == "bucket" else stream.batch(global_batch_size, drop_remainder=True))
    return _preprocessed(batches, task, seed, start_batch).with_options(_saveable())


def _saveable():
    """Options that let a checkpoint hold the iterator's position: the pipeline's
    stateful ops are lookup tables built once (vocab, labels) and JSONL's Python
    decoding, none with state that changes as it reads; randomness is stateless."""
    options = tf.data.Options()
    options.experimental_external_state_policy = \
        tf.data.experimental.ExternalStatePolicy.IGNORE
    return options


def _shuffled_epochs(examples, block_size, seed):
    """Endless epochs; each epoch cuts the stream into blocks of `block_size`
    examples and permutes each block with stateless random ops seeded by (seed,
    epoch, block), so the order is a function of the seed alone. (TensorFlow's
    own per-epoch reshuffle draws its seeds from a generator shared by all
    iterators of a dataset: another iterator reading ahead changes this one's order.)"""
    seed = tf.constant(seed, tf.int64)

    def permuted(epoch, block, rows):
        size = tf.shape(next(iter(rows.values())))[0]
        key = tf.random.experimental.stateless_fold_in(tf.stack([seed, epoch]), block)
        order = tf.argsort(tf.random.stateless_uniform([size], key))
        return tf.data.Dataset.from_tensor_slices(
            {name: tf.gather(values, order) for name, values in rows.items()})

    def epoch(index):
        return examples.batch(block_size).enumerate().flat_map(
            lambda block, rows: permuted(index, block, rows))
    return tf.data.Dataset.counter().flat_map(epoch)


def evaluation_dataset(paths, task, global_batch_size, seed=0, text_mode="line",
                       columns=None):
    """One pass over the files, in order, the last batch possibly partial."""
    examples = task.example_stream(read_examples(paths, task.data_fields, text_mode, columns))
    return _preprocessed(examples.batch(global_batch_size), task, seed + 1)
