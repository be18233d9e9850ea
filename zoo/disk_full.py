"""A full disk as one clear error naming the path, and the bytes needed where known.

TensorFlow reports a full disk as an OpError whose message holds the OS's
"No space left on device", Python as OSError(ENOSPC). `reporting_full_disk`
turns either, raised in its block, into `DiskFullError` (an OSError with
errno ENOSPC, so callers that handle OSError still do), naming what was being
written, where, the bytes it needs (when known) and those free.

Example:
    >>> with reporting_full_disk("runs/a/ckpt-20", "checkpoint", needed=48_000_000,
    ...                          kept="runs/a/ckpt-10"):
    ...     manager.save()
    DiskFullError: no space left on the device of runs/a/ckpt-20 while writing the
    checkpoint (it needs about 48,000,000 bytes; 1,024 are free). The last good
    checkpoint is kept: runs/a/ckpt-10
"""
import contextlib
import errno
import os
import shutil

from zoo import fileio


class DiskFullError(OSError):
    """A write failed for lack of space; the message names the path."""

    def __init__(self, message):
        super().__init__(errno.ENOSPC, message)

    def __str__(self):
        return self.strerror


def is_disk_full(error):
    """Whether `error` (OSError or TensorFlow's OpError) is a full disk."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = getattr(error, "message", None) or str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def free_bytes(path):
    """Free bytes on the local file system of `path` (None for remote paths)."""
    if fileio.is_remote(path):
        return None
    path = os.path.abspath(fileio.local_path(path))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def _value(value):
    """`value`, or what the function `value` returns (None if it fails)."""
    if not callable(value):
        return value
    try:
        return value()
    except Exception:  # pylint: disable=broad-except  (e.g. no previous export)
        return None


def describe(path, what, needed=None, kept=None):
    """The message; `needed` and `kept` may be functions (called only now)."""
    needed, kept = (_value(v) for v in (needed, kept))
    free = free_bytes(path)
    sizes = [f"it needs about {needed:,} bytes" if needed else "",
             f"{free:,} are free" if free is not None else ""]
    sizes = "; ".join(s for s in sizes if s)
    message = f"no space left on the device of {path} while writing {what}" + (
        f" ({sizes})" if sizes else "") + "."
    if kept:
        message += f" The last good one is kept: {kept}"
    return message


@contextlib.contextmanager
def reporting_full_disk(path, what, needed=None, kept=None, cleanup=None):
    """Re-raises a full disk inside the block as DiskFullError; `cleanup()` runs
    first (e.g. removing a half-written checkpoint)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:  # pylint: disable=broad-except  (others re-raised)
        if not is_disk_full(error):
            raise
        if cleanup is not None:
            with contextlib.suppress(Exception):
                cleanup()
        raise DiskFullError(describe(path, what, needed, kept)) from error
