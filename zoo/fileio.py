"""Atomic file and directory writes: write to a temporary name, then rename.

A reader (or TF Serving polling an export base directory) never sees a
partial file or directory.

Example:
    >>> atomic_write_text("run/config.json", "{}")
    >>> with atomic_path("cache.tfrecord") as tmp:
    ...     write_records(tmp)                   # appears as cache.tfrecord at the end
    >>> with atomic_directory("exports/3") as tmp:
    ...     tf.saved_model.save(module, tmp)      # appears as exports/3 at the end
"""
import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file name beside `path` (for writers that take a name, e.g.
    `tf.io.TFRecordWriter`), renamed to `path` when the block ends without
    error; on error the temporary file is removed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.tmp-")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path, newline=None):
    """A text file (UTF-8) written under a temporary name and renamed when the
    block ends without error; on error the temporary file is removed."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path, text):
    with atomic_open(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary sibling directory that is renamed to `path` on success."""
    parent = os.path.dirname(os.path.abspath(path))
    check_writable_dir(parent, "directory")
    if os.path.exists(path):
        raise FileExistsError(f"'{path}' already exists; refusing to overwrite it")
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_writable_dir(path, what):
    """Creates `path` if needed and fails clearly when it cannot be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"cannot create {what} '{path}': {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} '{path}' is not writable")


def atomic_copy(source, path):
    """Copies a file to `path` through a temporary name (e.g. a tokenizer model)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.tmp-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
