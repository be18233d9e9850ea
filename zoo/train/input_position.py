"""Where each worker keeps the position of its training input.

The model's checkpoints are the chief's; a worker's input pipeline is its own
(`zoo.data.pipeline.sharding`: it reads its shards only). So after every checkpoint of
the model, each worker saves its input iterator's state (the shuffle block,
packing leftovers, prefetched batches) into the shared model_dir, under
`input/worker-<w>-of-<W>/ckpt-<step>`, with the same step and as many kept.

A resumed run restores, on each worker, the position saved at its checkpoint's
step, and reads on from there at once. A worker that finds none (the job
stopped between the two saves; the run had another number of workers; the
model_dir predates this) skips the batches already trained on instead: the
same batches, read again.

Example:
    >>> manager = CheckpointsWithInput(checkpoint, "runs/a", iterator,
    ...                                position_dir("runs/a", 0, 1), max_to_keep=3)
    >>> saved_position("runs/a", step=500, worker=0, workers=1)
    'runs/a/input/worker-0-of-1/ckpt-500'
"""
import os
import time

import tensorflow as tf

INPUT_DIR = "input"


def position_dir(model_dir, worker, workers):
    """The directory of worker `worker` of `workers`'s input positions."""
    return os.path.join(model_dir, INPUT_DIR, f"worker-{worker}-of-{workers}")


def saved_position(model_dir, step, worker, workers):
    """The checkpoint of this worker's input position at `step`, or None."""
    directory = position_dir(model_dir, worker, workers)
    state = tf.train.get_checkpoint_state(directory)
    wanted = f"ckpt-{step}"
    if state is None or not any(os.path.basename(path) == wanted
                                for path in state.all_model_checkpoint_paths):
        return None
    return os.path.join(directory, wanted)


def restore_position(iterator, path):
    """Sets `iterator` (of the same pipeline) to the position saved at `path`."""
    tf.train.Checkpoint(input=iterator).read(path).expect_partial()


def position_restores(dataset, path):
    """Whether the position saved at `path` restores into an iterator of `dataset`
    (not when it was saved from another pipeline, e.g. one that skipped batches)."""
    try:
        restore_position(iter(dataset), path)
    except (tf.errors.OpError, ValueError, AssertionError):
        return False
    return True


class CheckpointsWithInput(tf.train.CheckpointManager):
    """A CheckpointManager that, right after each checkpoint it saves, saves
    `input_iterator`'s position into `input_directory` with the same number
    (None: the input cannot be saved; its runs resume by skipping)."""

    def __init__(self, checkpoint, directory, input_iterator, input_directory, **kwargs):
        super().__init__(checkpoint, directory, **kwargs)
        self._input = None if input_iterator is None else tf.train.CheckpointManager(
            tf.train.Checkpoint(input=input_iterator), input_directory,
            max_to_keep=kwargs.get("max_to_keep", 5))

    #: Seconds the latest save took, the input position's included (None before one).
    save_seconds = None

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """As CheckpointManager.save; a full disk raises zoo.disk_full.DiskFullError
        naming the checkpoint, and its half-written files are removed."""
        from zoo.disk_full import reporting_full_disk
        started = time.time()
        number = checkpoint_number if checkpoint_number is not None else "*"
        prefix = os.path.join(self.directory, f"ckpt-{int(number) if number != '*' else '*'}")
        kept = self.latest_checkpoint
        with reporting_full_disk(prefix, "a checkpoint", lambda: _bytes_of(kept), kept,
                                 cleanup=lambda: _remove_partial(prefix, kept)):
            path = super().save(checkpoint_number, check_interval, options)
            if path and self._input is not None:
                self._input.save(checkpoint_number=int(path.rsplit("-", 1)[1]))
        if path:
            self.save_seconds = time.time() - started
        return path


def _bytes_of(prefix):
    """The size of a checkpoint's files (None without one)."""
    from zoo import fileio
    return sum(fileio.file_size(p) for p in fileio.glob(prefix + ".*")) if prefix else None


def _remove_partial(prefix, kept):
    """Removes what a failed save of `prefix` left (never the files of `kept`; with
    the number unknown, `ckpt-*`, only the temporary files)."""
    from zoo import fileio
    finished = fileio.glob(prefix + ".*") if not prefix.endswith("*") else []
    for path in fileio.glob(prefix + "_temp*") + finished:
        if kept and path.startswith(kept + "."):
            continue
        if fileio.isdir(path):
            fileio.rmtree(path)
        else:
            fileio.remove(path)
