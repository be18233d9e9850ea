"""Input pipelines: raw examples -> shuffled, batched, preprocessed features.

Batches are preprocessed whole (tokenization is vectorised), in parallel and
in order; batch `i` of a shard gets the stateless seed `(shard seed, i)`, so
masking is the same on every run and on every strategy (zoo.data.pipeline.sharding).

Example:
    >>> ds = training_dataset(paths, task, global_batch_size=32, seed=0)
    >>> features, labels, weights = next(iter(ds))
    >>> ds = training_dataset(paths, task, 32, batching="bucket")  # similar lengths per batch
    >>> ds = training_dataset(paths, task, 32, input_shards=2, worker=1, workers=2)  # 16 rows
"""
import tensorflow as tf

from zoo.data.pipeline.bucketing import BATCHINGS, bucketed_batches, check_bucketing
from zoo.data.formats.readers import read_examples
from zoo.data.pipeline.sharding import concatenated_rows, shard_files, shard_seed, shards_of_worker

#: Training files read at once, interleaved one example each (zoo.data.formats.native).
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
                     shuffle_buffer=10000, start_batch=0, batching="plain", columns=None,
                     input_shards=1, worker=0, workers=1):
    """Endless, shuffled stream of this worker's part of every global batch, from
    batch `start_batch` on (a resumed run skips the raw batches it already trained
    on, so it sees the same data and masks as an uninterrupted run).

    The stream is cut into `input_shards` shards (`zoo.data.pipeline.sharding`): worker
    `worker` of `workers` reads only its shards and yields their batches of
    `global_batch_size / input_shards` rows each, concatenated; with one worker
    that is the whole global batch. `batching="bucket"` groups examples of
    similar length into a batch (`zoo.data.pipeline.bucketing`); `columns` ({field:
    column} or `--columns`) as in `zoo.data.formats.readers.iter_rows`."""
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got '{batching}'")
    if batching == "bucket":
        check_bucketing(type(task), task.config)
    if global_batch_size % input_shards:
        raise ValueError(f"global batch size {global_batch_size} is not divisible by "
                         f"{input_shards} input shards")
    streams = [_shard_batches(paths, task, global_batch_size // input_shards, seed,
                              text_mode, shuffle_buffer, start_batch, batching, columns,
                              input_shards, shard)
               for shard in shards_of_worker(input_shards, worker, workers)]
    if len(streams) > 1:
        streams = [tf.data.Dataset.zip(tuple(streams)).map(concatenated_rows)]
    return streams[0].with_options(_saveable())


def _shard_batches(paths, task, batch_size, seed, text_mode, shuffle_buffer, start_batch,
                   batching, columns, shards, shard):
    """Shard `shard` of `shards`: its examples, shuffled, batched and preprocessed."""
    files, by_data = shard_files(paths, shards, shard)
    examples = read_examples(files, task.data_fields, text_mode, columns,
                             parallel_files=PARALLEL_FILES)
    if by_data:
        examples = examples.shard(shards, shard)
    seed = shard_seed(seed, shards, shard)
    examples = (_shuffled_epochs(examples, shuffle_buffer, seed) if shuffle_buffer > 1
                else examples.repeat())
    stream = task.example_stream(examples)
    batches = (bucketed_batches(stream, task.text_fields, batch_size, task.encoder.seq_len)
               if batching == "bucket" else stream.batch(batch_size, drop_remainder=True))
    return _preprocessed(batches, task, seed, start_batch)


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
