"""Expands comma-separated lists of file names and glob patterns.

Example:
    >>> expand_paths("corpus/*.txt,extra.txt")
    ['corpus/a.txt', 'corpus/b.txt', 'extra.txt']
    >>> expand_paths("gs://bucket/c4/*.json.gz")   # any tf.io.gfile file system
"""
import collections
import os

from zoo import fileio

#: Extensions of the data formats the readers know (zoo.data.formats.readers.file_format).
DATA_EXTENSIONS = (".txt", ".jsonl", ".json", ".tsv", ".csv", ".tfrecord", ".tfrecords")


def _common_extension(directory):
    """The most frequent data file extension in `directory` ('.txt' if none)."""
    try:
        names = fileio.listdir(directory)
    except Exception:  # pylint: disable=broad-except  (OSError; tf.errors on URLs)
        names = []
    counts = collections.Counter(_extension(n) for n in sorted(names))
    known = [ext for ext, _ in counts.most_common()
             if ext.replace(".gz", "") in DATA_EXTENSIONS]
    return known[0] if known else ".txt"


def _extension(name):
    """`.txt`, or `.txt.gz` for a gzipped file."""
    stem, ext = os.path.splitext(name.lower())
    return os.path.splitext(stem)[1] + ext if ext == ".gz" else ext


def expand_paths(spec):
    """Returns the sorted files of each comma-separated pattern, in order.

    Raises FileNotFoundError naming the first pattern that matches no file (a
    directory is no data file: the message suggests a glob of its files).
    """
    if isinstance(spec, (list, tuple)):
        spec = ",".join(spec)
    paths = []
    for pattern in filter(None, (p.strip() for p in (spec or "").split(","))):
        if not fileio.is_remote(pattern):
            pattern = os.path.expanduser(pattern)
        matches = fileio.glob(pattern) if fileio.has_magic(pattern) else (
            [pattern] if fileio.exists(pattern) else [])
        files = [m for m in matches if fileio.isfile(m)]
        if not files and matches == [pattern] and fileio.isdir(pattern):
            raise FileNotFoundError(
                f"'{pattern}' is a directory: give files or a glob such as "
                f"'{fileio.join(pattern, '*' + _common_extension(pattern))}'")
        if not files and matches and all(fileio.isdir(m) for m in matches):
            raise FileNotFoundError(f"no data file matches '{pattern}' (it matches only "
                                    f"directories, such as '{matches[0]}')")
        if not files:
            raise FileNotFoundError(f"no data file matches '{pattern}'")
        paths.extend(files)
    if not paths:
        raise FileNotFoundError("no data files given")
    return paths
