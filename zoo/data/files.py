"""Expands comma-separated lists of file names and glob patterns.

Example:
    >>> expand_paths("corpus/*.txt,extra.txt")
    ['corpus/a.txt', 'corpus/b.txt', 'extra.txt']
"""
import glob
import os


def expand_paths(spec):
    """Returns the sorted files of each comma-separated pattern, in order.

    Raises FileNotFoundError naming the first pattern that matches nothing.
    """
    if isinstance(spec, (list, tuple)):
        spec = ",".join(spec)
    paths = []
    for pattern in filter(None, (p.strip() for p in (spec or "").split(","))):
        pattern = os.path.expanduser(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else (
            [pattern] if os.path.exists(pattern) else [])
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise FileNotFoundError(f"no data file matches '{pattern}'")
        paths.extend(matches)
    if not paths:
        raise FileNotFoundError("no data files given")
    return paths
