"""Expands comma-separated lists of file names and glob patterns.

Example:
    >>> expand_paths("corpus/*.txt,extra.txt")
    ['corpus/a.txt', 'corpus/b.txt', 'extra.txt']
"""
import collections
import glob
import os

#: Extensions of the data formats the readers know (zoo.data.readers.file_format).
DATA_EXTENSIONS = (".txt", ".jsonl", ".json", ".tsv", ".csv", ".tfrecord", ".tfrecords")


def _common_extension(directory):
    """The most frequent data file extension in `directory` ('.txt' if none)."""
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    counts = collections.Counter(os.path.splitext(n)[1].lower() for n in sorted(names))
    known = [ext for ext, _ in counts.most_common() if ext in DATA_EXTENSIONS]
    return known[0] if known else ".txt"


def expand_paths(spec):
    """Returns the sorted files of each comma-separated pattern, in order.

    Raises FileNotFoundError naming the first pattern that matches no file (a
    directory is no data file: the message suggests a glob of its files).
    """
    if isinstance(spec, (list, tuple)):
        spec = ",".join(spec)
    paths = []
    for pattern in filter(None, (p.strip() for p in (spec or "").split(","))):
        pattern = os.path.expanduser(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else (
            [pattern] if os.path.exists(pattern) else [])
        files = [m for m in matches if os.path.isfile(m)]
        if not files and matches == [pattern] and os.path.isdir(pattern):
            raise FileNotFoundError(
                f"'{pattern}' is a directory: give files or a glob such as "
                f"'{os.path.join(pattern, '*' + _common_extension(pattern))}'")
        if not files and matches and all(os.path.isdir(m) for m in matches):
            raise FileNotFoundError(f"no data file matches '{pattern}' (it matches only "
                                    f"directories, such as '{matches[0]}')")
        if not files:
            raise FileNotFoundError(f"no data file matches '{pattern}'")
        paths.extend(files)
    if not paths:
        raise FileNotFoundError("no data files given")
    return paths
