"""File system access for the whole zoo, local or remote.

Every file the zoo reads or writes (model_dir, export_dir, data, vocab, logs,
report, config.json) goes through this module (writes through
`zoo.atomic_files`, which builds on it). A path with a scheme (`gs://`,
`s3://`, `hdfs://`, `ram://`, ...) goes through `tf.io.gfile`; a local path
goes through the operating system exactly as it always has. Never hand a URL
to `os.path` functions that resolve it (`abspath`, `normpath`, `realpath`):
they turn `gs://b/run` into `gs:/b/run`, a local folder.

Example:
    >>> with open_file("gs://bucket/data/train.txt.gz", "rb") as handle:  # gunzips
    ...     first = next(iter(handle))
    >>> expand = glob("gs://bucket/data/*.txt")
"""
import contextlib
import errno
import glob as _glob
import gzip
import io
import os
import shutil

#: Schemes whose file systems tensorflow-io registers (when it is installed).
TENSORFLOW_IO_SCHEMES = ("s3", "hdfs", "viewfs", "har", "az", "http", "https")
_tried_tensorflow_io = []


def is_remote(path):
    """Whether `path` names a file system other than the local one (has a scheme
    such as gs://, s3://, hdfs://, ram://). For schemes that tensorflow-io
    provides, it is imported (once) so that TensorFlow's ops can open them too."""
    remote = "://" in str(path) and not str(path).startswith("file://")
    if remote and not _tried_tensorflow_io and \
            str(path).split("://", 1)[0].lower() in TENSORFLOW_IO_SCHEMES:
        _tried_tensorflow_io.append(True)
        try:
            import tensorflow_io  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        except ImportError:
            pass  # gfile then fails naming the unimplemented scheme
    return remote


def local_path(path):
    """`path` without a `file://` prefix (a local path as the OS takes it)."""
    path = str(path)
    return path[len("file://"):] if path.startswith("file://") else path


def gfile():
    """`tf.io.gfile`, imported on first use (reading local text needs no TensorFlow)."""
    import tensorflow as tf
    return tf.io.gfile


def _not_found(error):
    import tensorflow as tf
    return isinstance(error, tf.errors.NotFoundError)


def join(path, *parts):
    return os.path.join(path, *parts)


def basename(path):
    return os.path.basename(str(path).rstrip("/"))


def dirname(path):
    """The parent directory (for a local path, of its absolute form)."""
    if is_remote(path):
        return os.path.dirname(str(path).rstrip("/"))
    return os.path.dirname(os.path.abspath(local_path(path)))


def absolute(path):
    """`path` made absolute when it is local; a URL as it is."""
    return path if is_remote(path) else os.path.abspath(local_path(path))


def normalize(path):
    """`path` normalised for comparison (a URL keeps its `//`)."""
    return path.rstrip("/") if is_remote(path) else os.path.normpath(local_path(path))


def exists(path):
    return gfile().exists(path) if is_remote(path) else os.path.exists(local_path(path))


def isdir(path):
    return gfile().isdir(path) if is_remote(path) else os.path.isdir(local_path(path))


def isfile(path):
    if is_remote(path):
        return gfile().exists(path) and not gfile().isdir(path)
    return os.path.isfile(local_path(path))


def readable(path):
    """Whether `path` is a file this process can read."""
    if is_remote(path):
        return isfile(path)
    return os.access(local_path(path), os.R_OK)


def listdir(path):
    """Names in a directory ([] when it does not exist)."""
    if is_remote(path):
        return [n.rstrip("/") for n in gfile().listdir(path)] if gfile().isdir(path) else []
    return os.listdir(local_path(path)) if os.path.isdir(local_path(path)) else []


def makedirs(path):
    if is_remote(path):
        gfile().makedirs(path)
    else:
        os.makedirs(local_path(path), exist_ok=True)


def has_magic(pattern):
    return _glob.has_magic(pattern)


def glob(pattern):
    """Sorted paths matching a glob pattern (`~` expanded for local paths)."""
    if is_remote(pattern):
        return sorted(gfile().glob(pattern))
    return sorted(_glob.glob(os.path.expanduser(local_path(pattern))))


def remove(path):
    """Removes a file; a missing file is no error."""
    if is_remote(path):
        try:
            gfile().remove(path)
        except Exception as error:  # pylint: disable=broad-except
            if not _not_found(error):
                raise
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_path(path))


def rmtree(path):
    """Removes a directory and everything in it; a missing one is no error."""
    if is_remote(path):
        fs = gfile()
        if not fs.exists(path):
            return
        try:
            fs.rmtree(path)
        except Exception as error:  # pylint: disable=broad-except
            if not _not_found(error):
                raise
            # (ram:// fails on directories that exist only as the prefix of their
            # files): files first, then the directories, deepest first.
            for root, dirs, names in list(walk(path, topdown=False)):
                for name in names + dirs:
                    remove(join(root, name))
            remove(path)
    else:
        shutil.rmtree(local_path(path), ignore_errors=True)


def getmtime_ns(path):
    if is_remote(path):
        return gfile().stat(path).mtime_nsec
    return os.stat(local_path(path)).st_mtime_ns


def file_size(path):
    """The size of a file in bytes."""
    return gfile().stat(path).length if is_remote(path) else os.path.getsize(local_path(path))


def directory_bytes(path):
    """Total size of the files under a directory."""
    if is_remote(path):
        return sum(file_size(join(root, name)) for root, _, names in walk(path) for name in names)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(local_path(path)) for name in names)


def same_file(a, b):
    """Whether two existing paths are the same file."""
    if is_remote(a) or is_remote(b):
        return is_remote(a) and is_remote(b) and normalize(a) == normalize(b) and exists(a)
    return os.path.exists(local_path(a)) and os.path.exists(local_path(b)) and \
        os.path.samefile(local_path(a), local_path(b))


def is_gzip(path):
    return str(path).lower().endswith(".gz")


def open_file(path, mode="r", encoding="utf-8", newline=None, decompress=True):
    """Opens a file for reading or writing (`r`, `rb`, `w`, `wb`, `a`); text modes
    are UTF-8. A `.gz` file read with `decompress` is gunzipped on the fly."""
    gunzip = decompress and is_gzip(path) and "r" in mode
    if not is_remote(path) and not gunzip:
        if "b" in mode:
            return open(local_path(path), mode)  # pylint: disable=consider-using-with
        return open(local_path(path), mode, encoding=encoding, newline=newline)  # pylint: disable=consider-using-with
    binary = mode.replace("b", "") + "b"
    if is_remote(path) and "r" in mode and not gfile().exists(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
    handle = gfile().GFile(path, binary) if is_remote(path) else open(local_path(path), binary)  # pylint: disable=consider-using-with
    if gunzip:
        handle = _gunzipped(handle)
    elif is_remote(path):
        raw = _Raw(handle)
        handle = io.BufferedReader(raw) if "r" in mode else io.BufferedWriter(raw)
    if "b" in mode:
        return handle
    return io.TextIOWrapper(handle, encoding=encoding, newline=newline)


def _gunzipped(handle):
    """A GzipFile reading `handle`, which it closes when it is closed."""
    stream = gzip.GzipFile(fileobj=handle, mode="rb")
    stream.myfileobj = handle  # (GzipFile closes only the file objects it opened)
    return stream


class _Raw(io.RawIOBase):
    """A GFile as a raw binary stream (for io.Buffered*, io.TextIOWrapper)."""

    def __init__(self, handle):
        super().__init__()
        self._handle = handle

    def readable(self):
        return True

    def writable(self):
        return True

    def readinto(self, buffer):
        data = self._handle.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data):
        self._handle.write(bytes(data))
        return len(data)

    def close(self):
        if not self.closed:
            self._handle.close()
        super().close()


def read_text(path):
    with open_file(path) as handle:
        return handle.read()


def read_bytes(path):
    with open_file(path, "rb", decompress=False) as handle:
        return handle.read()



def walk(path, topdown=True):
    """tf.io.gfile.walk without the entries that do not exist (ram:// lists
    `assets.extra` as a file `.extra` of `assets` too)."""
    fs = gfile()
    for root, dirs, names in fs.walk(path, topdown=topdown):
        yield root, dirs, [n for n in names if fs.exists(join(root, n))]


def check_writable_dir(path, what):
    """Creates `path` if needed and fails clearly when it cannot be written."""
    if is_remote(path):
        try:
            makedirs(path)
        except Exception as error:  # pylint: disable=broad-except
            message = getattr(error, "message", str(error))
            raise PermissionError(f"cannot create {what} '{path}': {message}") from None
        return
    path = local_path(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"cannot create {what} '{path}': {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} '{path}' is not writable")
