"""Writes that a crash never leaves half done, local or remote (`zoo.fileio`).

Write to a temporary name beside the target, then rename. On a local disk (and
on HDFS) renaming a file or a directory is atomic. On object stores (gs://,
s3://; ram:// in the tests) a file rename is a copy then a delete, so readers
still see either the old or the new object, but a *directory* rename copies
file by file: `atomic_directory` there copies every file and `saved_model.pb`
last, so TF Serving (which loads a version once its `saved_model.pb` exists)
never loads a partial version, but other readers may see a partly copied
directory while the copy runs.

Example:
    >>> atomic_write_text("run/config.json", "{}")
    >>> with atomic_path("cache.tfrecord") as tmp:
    ...     write_records(tmp)                   # appears as cache.tfrecord at the end
    >>> with atomic_directory("gs://bucket/exports/3") as tmp:
    ...     tf.saved_model.save(module, tmp)      # appears as exports/3 at the end
"""
import contextlib
import gzip
import io
import os
import shutil
import tempfile
import uuid

from zoo.fileio import (basename, check_writable_dir, dirname, exists,
                        is_gzip, is_remote, join, makedirs, open_file, read_bytes, remove,
                        rmtree, walk, gfile, local_path, read_text)

#: Written last when a directory is copied file by file (see the module doc).
_LAST_FILES = ("saved_model.pb",)


def _temp_name(path):
    return join(dirname(path), f".{basename(path)}.tmp-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file name beside `path` (for writers that take a name, e.g.
    `tf.io.TFRecordWriter`), renamed to `path` when the block ends without
    error; on error the temporary file is removed."""
    if is_remote(path):
        makedirs(dirname(path))
        tmp = _temp_name(path)
        try:
            yield tmp
            gfile().rename(tmp, path, overwrite=True)
        except BaseException:
            remove(tmp)
            raise
        return
    path = local_path(path)
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
    block ends without error; on error the temporary file is removed. A `.gz`
    name is written gzipped."""
    with atomic_path(path) as tmp:
        if is_gzip(path):
            with open_file(tmp, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, \
                        io.TextIOWrapper(zipped, encoding="utf-8", newline=newline) as handle:
                    yield handle
                if not is_remote(path):
                    raw.flush()
                    os.fsync(raw.fileno())
            return
        if is_remote(path):
            with open_file(tmp, "w", newline=newline) as handle:
                yield handle
            return
        with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path, text):
    with atomic_open(path) as handle:
        handle.write(text)


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp:
        with open_file(tmp, "wb") as handle:
            handle.write(data)
            if not is_remote(path):
                handle.flush()
                os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary sibling directory that is renamed to `path` on success
    (on an object store: copied file by file, `saved_model.pb` last, then removed;
    see the module doc)."""
    parent = dirname(path)
    check_writable_dir(parent, "directory")
    if exists(path):
        raise FileExistsError(f"'{path}' already exists; refusing to overwrite it")
    if is_remote(path):
        tmp = _temp_name(path)
        makedirs(tmp)
        try:
            yield tmp
            copy_tree(tmp, path)
        finally:
            rmtree(tmp)
        return
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_tree(source, target):
    """Copies a directory tree file by file through tf.io.gfile, either side
    local or remote (the `_LAST_FILES` last)."""
    fs = gfile()
    files, last = [], []
    for root, _, names in walk(source):
        relative = root[len(source):].lstrip("/")
        fs.makedirs(join(target, relative) if relative else target)
        for name in names:
            pair = (join(root, name), join(target, relative, name) if relative
                    else join(target, name))
            (last if not relative and name in _LAST_FILES else files).append(pair)
    for src, dst in files + last:
        fs.copy(src, dst, overwrite=True)


@contextlib.contextmanager
def temp_directory(parent, prefix):
    """A temporary directory under `parent` (local or remote), removed at the end."""
    if not is_remote(parent):
        with tempfile.TemporaryDirectory(dir=local_path(parent), prefix=prefix) as tmp:
            yield tmp
        return
    tmp = join(parent, f"{prefix}{uuid.uuid4().hex[:12]}")
    makedirs(tmp)
    try:
        yield tmp
    finally:
        rmtree(tmp)


def atomic_copy(source, path):
    """Copies a file to `path` through a temporary name (e.g. a tokenizer model)."""
    if is_remote(source) or is_remote(path):
        with atomic_path(path) as tmp:
            if is_remote(tmp):
                gfile().copy(source, tmp, overwrite=True)
            else:
                with open(tmp, "wb") as handle:
                    handle.write(read_bytes(source))
        return
    source, path = local_path(source), local_path(path)
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


def append_text(path, text):
    """Appends `text` to a file (a log line), creating it if needed. Remote file
    systems without append (object stores) get the file rewritten whole."""
    if not is_remote(path):
        with open(local_path(path), "a", encoding="utf-8") as handle:
            handle.write(text)
        return
    try:
        with gfile().GFile(path, "a") as handle:
            handle.write(text)
    except Exception as error:  # pylint: disable=broad-except
        import tensorflow as tf
        if not isinstance(error, tf.errors.UnimplementedError):
            raise
        before = read_text(path) if exists(path) else ""
        atomic_write_text(path, before + text)
