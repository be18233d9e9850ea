"""Input shards: how the training stream is split among workers.

The training stream of a run is cut into `input_shards` shards (`--input_shards`,
by default one per worker). Shard `s` of `S` reads the files `paths[s::S]` when
there are at least `S` files; with fewer files every shard reads all of them
and keeps every `S`-th example from the `s`-th on (sharding by data). Each shard
shuffles, batches (`global_batch_size / S` rows) and preprocesses its examples
with its own stream seed (`shard_seed`), and global batch `i` is the shards'
batches `i` in shard order.

A worker reads only the shards it owns, the contiguous block
`shards_of_worker` gives it, so with file sharding it reads about `1/W` of
the bytes. The batches are a function of the seed, the files (in their
order), the global batch size and `S` alone, not of the strategy, the number
of workers or replicas: a one_device run with `--input_shards=2` trains on
the same global batches as two workers.

Example:
    >>> shard_files(["a", "b", "c"], shards=2, shard=1)
    (['b'], False)
    >>> shard_files(["a"], shards=2, shard=1)
    (['a'], True)
    >>> shards_of_worker(input_shards=4, worker=1, workers=2)
    range(2, 4)
"""
import tensorflow as tf


def shard_files(paths, shards, shard):
    """(the files shard `shard` of `shards` reads, whether it shards by data):
    every `shards`-th file from the `shard`-th when there are enough files,
    else all of them, of whose examples it keeps every `shards`-th."""
    paths = list(paths)
    if shards <= 1:
        return paths, False
    if len(paths) >= shards:
        return paths[shard::shards], False
    return paths, True


def shards_of_worker(input_shards, worker, workers):
    """The shards worker `worker` of `workers` reads: a contiguous block, so that
    the workers' batches, in worker order, are the global batch in shard order."""
    if input_shards % workers:
        raise ValueError(f"{input_shards} input shards cannot be split evenly among "
                         f"{workers} workers")
    each = input_shards // workers
    return range(worker * each, (worker + 1) * each)


def shard_seed(seed, shards, shard):
    """The stream seed of shard `shard` of `shards`: `seed` itself for one shard
    (so a run of one shard is unchanged by sharding), else `seed * shards + shard`,
    distinct for every shard of a run."""
    return seed if shards <= 1 else seed * shards + shard


def concatenated_rows(*batches):
    """One batch of the rows of `batches` in order; tensors whose other axes
    differ (a batch is trimmed to its longest row) are padded with zeros (False,
    '') to the largest, which padding masks and zero loss weights leave out.

    >>> concatenated_rows({"x": tf.ones([1, 2])}, {"x": tf.ones([1, 3])})["x"].shape
    TensorShape([2, 3])
    """
    def concatenate(*tensors):
        if tensors[0].shape.rank == 1:
            return tf.concat(tensors, axis=0)
        largest = tf.reduce_max(tf.stack([tf.shape(t) for t in tensors]), axis=0)
        return tf.concat([tf.pad(t, tf.stack([tf.zeros_like(largest), largest - tf.shape(t)],
                                             axis=1))  # (the shards' rows are equal)
                          for t in tensors], axis=0)
    return tf.nest.map_structure(concatenate, *batches)


def worker_files(paths, input_shards, worker, workers):
    """The files worker `worker` of `workers` reads for its shards, in list order
    (all of them when its shards split the examples).

    >>> worker_files(["a", "b", "c", "d"], input_shards=2, worker=1, workers=2)
    ['b', 'd']
    """
    own = set()
    for shard in shards_of_worker(input_shards, worker, workers):
        own.update(shard_files(paths, input_shards, shard)[0])
    return [path for path in paths if path in own]


def describe_shards(paths, input_shards, worker, workers):
    """One line on what this worker reads, e.g. 'input: worker 1 of 2 reads shard 1
    of 2: 3 of 6 files'."""
    shards = shards_of_worker(input_shards, worker, workers)
    by_data = shard_files(paths, input_shards, shards[0])[1]
    files = worker_files(paths, input_shards, worker, workers)
    which = f"shard {shards[0]}" if len(shards) == 1 else \
        f"shards {shards[0]}-{shards[-1]}"
    what = (f"1 in {input_shards} examples of all {len(paths)} file(s)" if by_data
            else f"{len(files)} of {len(paths)} file(s)")
    return f"input: worker {worker} of {workers} reads {which} of {input_shards}: {what}"
