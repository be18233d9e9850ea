"""A uniform sample of the texts of data files, read in one streaming pass: what a
vocabulary is trained from (zoo-vocab and zoo-train's `--vocab_sample`).

Every example (a line of plain text, a paragraph, a row of TSV/CSV/JSONL, a
TFRecord) is kept with probability p = min(1, budget / total), drawn from
`random.Random(seed)`, so the sample is a function of the files and the seed.
`total` is the size of the files (`estimated_bytes`): for a `.gz` file its
compressed size times the compression ratio of its first MiB. TSV, CSV, JSONL
and TFRecord files also hold other columns and markup, so their sample (which
counts only the text fields) comes out smaller than the budget. While reading,
a progress line is printed every `PROGRESS_SECONDS`, and a last line says what
was kept.

Example:
    >>> parse_size("100M")
    100000000
    >>> texts = list(sample_texts(["corpus.txt"], budget=parse_size("1M"), seed=0))
    vocab sample: kept 1.0 MB in 2,412 of 7,500 examples (p=0.323 of ~3.1 MB, seed 0)
"""
import random
import re
import time
import zlib

from zoo import fileio
from zoo.data.formats.readers import ALIGNED, DataError, iter_rows

#: Seconds between progress lines.
PROGRESS_SECONDS = 5.0
#: Compressed bytes of a `.gz` file read to estimate its compression ratio.
GZIP_PROBE = 1 << 20
_UNITS = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)b?", re.IGNORECASE)


def parse_size(value):
    """Bytes from an int or a string with an optional decimal suffix K, M, G or T
    (`100M`, `1.5G`, `512k`, `2GB`, `0`); a ValueError says what is accepted."""
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a size in bytes: give a number with an optional "
                         "K, M or G suffix, e.g. 100M or 1G (0: no sampling)")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def format_size(size):
    """`size` bytes as MB (one decimal), the unit of the progress lines."""
    return f"{size / 1e6:.1f} MB"


def estimated_bytes(path):
    """The text bytes of a data file (of each file of an aligned source): its size,
    for a `.gz` file times the compression ratio of its first `GZIP_PROBE` bytes."""
    total = 0
    for part in path.split(ALIGNED):
        size = fileio.file_size(part)
        if fileio.is_gzip(part) and size:
            with fileio.open_file(part, "rb", decompress=False) as handle:
                head = handle.read(GZIP_PROBE)
            size = size * _gunzipped_size(head) // max(len(head), 1)
        total += size
    return total


def _gunzipped_size(data):
    """The size of the start of a gzip stream once unpacked, counted 1 MiB at a time."""
    stream, size = zlib.decompressobj(16 + zlib.MAX_WBITS), 0
    try:
        while data:
            size += len(stream.decompress(data, 1 << 20))
            data = stream.unconsumed_tail
    except zlib.error:
        return len(data)  # (not gzip after all: reading it will say so)
    return size


def _utf8_len(text):
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def sample_texts(paths, fields=("text",), text_mode="line", columns=None, budget=0, seed=0,
                 text_fields=None):
    """Yields the texts of a uniform sample of the examples of `paths` of about
    `budget` bytes (0: every example), file after file, and prints progress.
    `fields` are read (`iter_rows`); those of `text_fields` (default: all) yielded.
    An empty sample of a non-empty file list is a DataError."""
    total = sum(estimated_bytes(path) for path in paths)
    rate = min(1.0, budget / total) if budget and total else 1.0
    draw = random.Random(seed).random
    text_fields = tuple(text_fields or fields)
    read = kept = examples = chosen = 0
    shown = time.monotonic()
    for path in paths:
        for _, row in iter_rows(path, fields, text_mode, columns=columns):
            texts = [row[field] for field in text_fields]
            size = sum(map(_utf8_len, texts)) + len(texts)  # (+1 each: the newline)
            read += size
            examples += 1
            if time.monotonic() - shown >= PROGRESS_SECONDS:
                shown = time.monotonic()
                print(f"vocab sample: read {format_size(read)} of ~{format_size(total)} "
                      f"({min(read / max(total, 1), 1):.0%}), kept {format_size(kept)} in "
                      f"{chosen:,} examples", flush=True)
            if rate < 1.0 and draw() >= rate:
                continue
            kept += size
            chosen += 1
            yield from texts
    if examples and not chosen:
        raise DataError(f"the vocab sample of {budget:,} bytes of ~{format_size(total)} kept "
                        "no example: raise --vocab_sample")
    how = f"p={rate:.3g} of ~{format_size(total)}, seed {seed}" if rate < 1.0 else \
        "everything: no sample budget, or one above the data's size"
    print(f"vocab sample: kept {format_size(kept)} in {chosen:,} of {examples:,} examples "
          f"({how})", flush=True)
