"""Finds the newest checkpoint of a model_dir that restores, setting damaged ones aside.

A crash or a full disk can leave the newest checkpoint damaged: a truncated or
empty `ckpt-N.data-*`, a missing or empty `ckpt-N.index`, or a `checkpoint`
state file naming a checkpoint that is not there. Before a run resumes,
`repair_checkpoints` reads every tensor of the newest checkpoint (those the
state file names count, and the `ckpt-N.*` files on disk up to its newest; all
of them without a state file), and of older ones until one reads whole. Each
damaged one newer than that is moved, not deleted, to `<model_dir>/damaged/`,
with a message naming it and why; the state file is rewritten to name the good
one. When a model_dir has checkpoints and none
restores, `CheckpointError` says why for each and nothing is moved: a run never
starts from scratch over the user's run. Readers of a model_dir (zoo-export,
`--mode=eval`, zoo-predict, `--init_checkpoint`) take `latest_restorable`: the
same search, naming what they skip, moving nothing.

Example:
    >>> repair_checkpoints("runs/a")   # ckpt-20.data-* truncated, ckpt-10 whole
    checkpoint runs/a/ckpt-20 cannot be restored (...); moved it to runs/a/damaged/ ...
    'runs/a/ckpt-10'
"""
import re

import tensorflow as tf

from zoo import fileio

#: Where damaged checkpoints are moved, inside the model_dir.
DAMAGED_DIR = "damaged"
_FILE = re.compile(r"^ckpt-(\d+)\.(index|data-\d+-of-\d+)$")


class CheckpointError(RuntimeError):
    """A model_dir holds checkpoints, and none of them can be restored."""


def _steps_on_disk(model_dir):
    steps = set()
    for name in fileio.listdir(model_dir) if fileio.isdir(model_dir) else []:
        match = _FILE.match(name)
        if match:
            steps.add(int(match.group(1)))
    return steps


def _named_in_state(model_dir):
    """The checkpoint prefixes the `checkpoint` state file names (it may be damaged too)."""
    try:
        state = tf.train.get_checkpoint_state(model_dir)
    except Exception:  # pylint: disable=broad-except  (an unreadable state file)
        return []
    if state is None:
        return []
    # (get_checkpoint_state has already joined relative names to model_dir, as
    # given: joining again breaks a relative --model_dir.)
    paths = list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]
    return [path for path in paths if path]


def _files_of(prefix):
    return fileio.glob(prefix + ".index") + fileio.glob(prefix + ".data-*")


def why_unrestorable(prefix):
    """Why the checkpoint at `prefix` cannot be read whole, or None when it can
    (every tensor is read, so a truncated or corrupt data file shows)."""
    name = fileio.basename(prefix)
    if not fileio.exists(prefix + ".index"):
        if not fileio.glob(prefix + ".data-*"):
            return "it is named in the 'checkpoint' state file, but its files are missing"
        return f"its index file {name}.index is missing"
    for path in _files_of(prefix):
        if fileio.file_size(path) == 0:
            return f"{fileio.basename(path)} is empty (0 bytes)"
    try:
        # (the reader of the prefix itself: tf.train.load_checkpoint first asks whether
        # the prefix is a directory, which ram:// answers yes for `dir/ckpt-6`)
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        for tensor in reader.get_variable_to_shape_map():
            reader.get_tensor(tensor)
    except Exception as error:  # pylint: disable=broad-except  (any reason: reported)
        first = (str(error).strip().splitlines() or [""])[0]
        return f"{type(error).__name__}: {first}"[:300]
    return None


def _set_aside(model_dir, prefix):
    """Moves the files of `prefix` into <model_dir>/damaged/ (a fresh name if taken)."""
    target = fileio.join(model_dir, DAMAGED_DIR)
    fileio.makedirs(target)
    for path in _files_of(prefix):
        destination = fileio.join(target, fileio.basename(path))
        suffix = 1
        while fileio.exists(destination):
            destination = fileio.join(target, f"{fileio.basename(path)}.{suffix}")
            suffix += 1
        fileio.gfile().rename(path, destination)
    return target


def _search(model_dir):
    """(the newest checkpoint prefix that restores, [(newer prefix, why it does not)],
    {step: prefix} of all candidates); (None, [], {}) without checkpoints. Raises
    CheckpointError when there are checkpoints and none restores."""
    prefixes = {int(path.rsplit("-", 1)[1]): path for path in _named_in_state(model_dir)
                if re.search(r"-\d+$", path)}
    # Files on disk count up to the state file's newest (a save killed before the state
    # file named it is not adopted: its input position may be missing), all of them
    # when there is no state file.
    newest = max(prefixes, default=None)
    for step in _steps_on_disk(model_dir):
        if newest is None or step <= newest:
            prefixes.setdefault(step, fileio.join(model_dir, f"ckpt-{step}"))
    failures = []
    for step in sorted(prefixes, reverse=True):
        why = why_unrestorable(prefixes[step])
        if why is None:
            return prefixes[step], failures, prefixes
        failures.append((prefixes[step], why))
    if failures:
        raise CheckpointError(
            f"no checkpoint in '{model_dir}' can be restored: " +
            "; ".join(f"{fileio.basename(p)}: {why}" for p, why in failures) +
            ". They are left in place: move them away to train from scratch there, or use "
            "a new --model_dir")
    return None, [], {}


def latest_restorable(model_dir, say=print):
    """For readers of a model_dir (zoo-export, --mode=eval, zoo-predict): the newest
    checkpoint that restores (None without checkpoints), naming each newer damaged
    one and why, and moving nothing. Raises CheckpointError when none restores.

    Example:
        >>> latest_restorable("runs/a")   # ckpt-20.data-* truncated
        checkpoint runs/a/ckpt-20 cannot be restored (...); using runs/a/ckpt-10
        'runs/a/ckpt-10'
    """
    good, failures, _ = _search(model_dir)
    for prefix, why in failures:
        say(f"checkpoint {prefix} cannot be restored ({why}); using {good}", flush=True)
    return good


def repair_checkpoints(model_dir, say=print):
    """The prefix of the newest checkpoint in `model_dir` that restores (None when
    there is none at all); damaged newer ones are moved to <model_dir>/damaged/
    and the state file then names the good one. Raises CheckpointError when there
    are checkpoints and none restores."""
    good, failures, prefixes = _search(model_dir)
    if good is None:
        return None
    latest = tf.train.latest_checkpoint(model_dir)
    if not failures and latest and fileio.normalize(latest) == fileio.normalize(good):
        return good
    for prefix, why in failures:
        target = _set_aside(model_dir, prefix) if _files_of(prefix) else None
        where = f"moved it to {target}/" if target else "the state file no longer names it"
        say(f"checkpoint {prefix} cannot be restored ({why}); {where}", flush=True)
    older = [prefixes[s] for s in sorted(prefixes) if prefixes[s] != good and
             s < int(good.rsplit("-", 1)[1]) and fileio.exists(prefixes[s] + ".index")]
    tf.compat.v1.train.update_checkpoint_state(model_dir, good, older + [good])
    say(f"resuming from {good}, the newest checkpoint that restores", flush=True)
    return good
