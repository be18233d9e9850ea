"""Streaming corpus cleaning (zoo-prep): normalise, filter, deduplicate, split.

Rows are read with the training readers (plain text, `.jsonl`, `.tsv`/`.csv`)
and written back in the same format; other columns pass through unchanged.
Each text field is Unicode-normalised (NFC, NFKC or not at all), stripped of
control characters and has its whitespace collapsed; then a row is dropped
if a text is empty or outside the length limits, if the same text (after
casefolding) was already kept, or if MinHash finds it a near duplicate of a
kept text. Nothing depends on a language or a word list.

One pass, batch by batch, and memory holds only hashes, never the corpus:
per kept row an 8-byte hash, one LSH bucket entry per band and a 64-byte
MinHash signature, in sorted numpy arrays (about 200 bytes a row with the
default threshold).

Example:
    >>> report = prepare(["sst2/train.tsv"], "clean/train.tsv",
    ...                  PrepConfig(validation_fraction=0.05), "clean/dev.tsv")
    >>> report["removed"]
    {'empty': 0, 'too_short': 0, 'too_long': 0, 'exact_duplicate': 371, 'near_duplicate': 22930}
"""
import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import tempfile
import unicodedata

import numpy as np

from zoo.data import readers
from zoo.fileio import atomic_write_text

#: Rules that drop a row, in the order they are applied.
REMOVAL_RULES = ("empty", "too_short", "too_long", "exact_duplicate", "near_duplicate")
#: Rules that edit a text; the report counts the rows each one changed.
EDIT_RULES = ("normalized", "control_chars", "whitespace")
NORMALIZATIONS = ("NFC", "NFKC", "none")

# C0/C1 control characters that are not whitespace (for str.translate to delete);
# the whitespace ones (\t \n \r \x0b \x0c \x1c-\x1f \x85) are left to the
# whitespace rule, which turns them into spaces (or keeps \n), so the words they
# separate stay apart.
_CONTROL = dict.fromkeys(c for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace())


@dataclasses.dataclass
class PrepConfig:
    fields: tuple = ("text",)       # text fields; other columns pass through
    text_mode: str = "line"         # plain text: "line" or "paragraph"
    normalize: str = "NFC"          # NFC, NFKC or none
    min_chars: int = 0              # per text field; 0: no limit
    max_chars: int = 0
    min_words: int = 0              # whitespace-separated tokens (meaningless for
    max_words: int = 0              # scripts written without spaces); 0: no limit
    near_dup_threshold: float = 0.8  # estimated Jaccard of character 5-grams; 0 or 1: off
    validation_fraction: float = 0.0


def clean_text(text, normalize="NFC"):
    """Returns (cleaned text, names of the EDIT_RULES that changed it).

    Whitespace runs become one space, lines are stripped and empty lines
    dropped, so a paragraph keeps its line breaks but never gains a blank line.
    """
    changed = []
    for rule, edit in (
            ("normalized", lambda t: t if normalize == "none" else unicodedata.normalize(normalize, t)),
            ("control_chars", lambda t: t.translate(_CONTROL)),
            ("whitespace", lambda t: "\n".join(filter(None, (
                " ".join(line.split()) for line in t.split("\n")))))):
        edited = edit(text)
        if edited != text:
            changed.append(rule)
        text = edited
    return text, changed


def text_hash(text):
    """A stable 64-bit hash (the same in every run, unlike Python's hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class HashIndex:
    """A map from integer keys (uint64, or uint32 where a collision costs only a
    check) to uint32 values: 12 or 8 bytes an entry.

    Entries live in a sorted numpy array, searched a batch of keys at a time;
    new ones wait in the dict `recent` until `compact()` merges them in (one
    linear pass). Callers add only keys they did not find.
    """

    def __init__(self, dtype=np.uint64):
        self._keys = np.empty(0, dtype)
        self._values = np.empty(0, np.uint32)
        self.recent = {}

    @property
    def nbytes(self):
        return self._keys.nbytes + self._values.nbytes

    def find(self, keys):
        """The value of each key (an array of the index's dtype) among the merged
        entries, -1 where absent; look in `recent` too."""
        found = np.full(len(keys), -1, np.int64)
        if len(self._keys):
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            hit = self._keys[at] == keys
            found[hit] = self._values[at[hit]]
        return found

    def add(self, key, value):
        self.recent.setdefault(key, value)

    def compact(self, buffer_size=1 << 16):
        if len(self.recent) < buffer_size:
            return
        keys = np.fromiter(self.recent, self._keys.dtype, len(self.recent))
        values = np.fromiter(self.recent.values(), np.uint32, len(self.recent))
        order = np.argsort(keys)
        at = np.searchsorted(self._keys, keys[order])
        self._keys = np.insert(self._keys, at, keys[order])
        self._values = np.insert(self._values, at, values[order])
        self.recent = {}


class NearDuplicates:
    """MinHash over character n-grams with LSH banding, checked against kept texts.

    Each text gets `num_perm` minima of multiply-shift hashes of its n-gram
    hashes. LSH splits the signature into bands; a text that shares a band
    with a kept text is compared with it, and is a near duplicate when the
    estimated Jaccard similarity reaches `threshold`. Only the low byte of
    each minimum is kept (b-bit MinHash): two different minima agree on it one
    time in 256, which the estimate corrects for.
    """

    def __init__(self, threshold, num_perm=64, ngram=5, seed=0):
        rng = np.random.default_rng(seed)
        self.threshold, self.ngram = threshold, ngram
        self._a = rng.integers(0, 2**64, num_perm, np.uint64, endpoint=False) | np.uint64(1)
        self._b = rng.integers(0, 2**64, num_perm, np.uint64, endpoint=False)
        self._powers = rng.integers(0, 2**64, ngram, np.uint64, endpoint=False) | np.uint64(1)
        self.rows_per_band = self._rows_per_band(threshold, num_perm)
        self._band_mix = rng.integers(0, 2**64, self.rows_per_band, np.uint64, endpoint=False)
        self._band_ids = np.arange(num_perm // self.rows_per_band, dtype=np.uint64) << np.uint64(56)
        self._index = HashIndex(np.uint32)  # bucket keys: a collision only adds a candidate
        self._signatures = []  # blocks of (4096, num_perm) uint8
        self.kept = 0

    @staticmethod
    def _rows_per_band(threshold, num_perm):
        """The most rows per band (fewest buckets) that still makes a pair at the
        threshold a candidate with probability >= 0.95."""
        divisors = [r for r in range(num_perm, 0, -1) if num_perm % r == 0]
        return next(r for r in divisors
                    if 1 - (1 - threshold ** r) ** (num_perm // r) >= 0.95)

    @property
    def nbytes(self):
        return self._index.nbytes + sum(block.nbytes for block in self._signatures)

    def signatures(self, texts):
        """MinHash signatures, (len(texts), num_perm) uint32, of the texts' n-grams."""
        n = self.ngram  # a text shorter than n is padded with \x00 (never in a clean text)
        texts = [t + "\x00" * (n - len(t)) for t in texts]
        points = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
        grams = sum(points[k:len(points) - n + 1 + k] * self._powers[k] for k in range(n))
        ends = np.cumsum([len(t) for t in texts])
        valid = np.ones(len(grams), bool)  # drop the n-grams that span two texts
        valid[(ends[:-1, None] - np.arange(1, n)).ravel()] = False
        grams = grams[valid]
        starts = np.concatenate([[0], np.cumsum([len(t) - n + 1 for t in texts])[:-1]])
        result = np.empty((len(self._a), len(texts)), np.uint64)
        hashed = np.empty_like(grams)
        for i, (a, b) in enumerate(zip(self._a, self._b)):  # one at a time stays in cache
            np.multiply(grams, a, out=hashed)
            hashed += b
            result[i] = np.minimum.reduceat(hashed, starts)
        return (result.T >> np.uint64(32)).astype(np.uint32)

    @staticmethod
    def similarity(sig_a, sig_b):
        """Estimated Jaccard similarity of two (b-bit) signatures."""
        agree = np.mean(sig_a.astype(np.uint8) == sig_b.astype(np.uint8))
        return (agree - 1 / 256) / (1 - 1 / 256)

    def check(self, texts):
        """For each text, whether it is a near duplicate of a kept text (one
        earlier in `texts` included); the others are kept."""
        signatures = self.signatures(texts)
        low_bytes = signatures.astype(np.uint8)
        bands = signatures.reshape(len(texts), -1, self.rows_per_band).astype(np.uint64)
        keys = (((bands @ self._band_mix) ^ self._band_ids) >> np.uint64(32)).astype(np.uint32)
        found = self._index.find(keys.ravel()).reshape(keys.shape)
        duplicates = []
        for row_keys, row_found, low in zip(keys.tolist(), found.tolist(), low_bytes):
            candidates = {self._index.recent.get(k, f) for k, f in zip(row_keys, row_found)}
            duplicate = any(self.similarity(low, self._signatures[c // 4096][c % 4096])
                            >= self.threshold for c in candidates - {-1})
            if not duplicate:
                if self.kept % 4096 == 0:
                    self._signatures.append(np.empty((4096, len(low)), np.uint8))
                self._signatures[-1][self.kept % 4096] = low
                for key, found_value in zip(row_keys, row_found):
                    if found_value < 0:  # a bucket keeps its first text
                        self._index.add(key, self.kept)
                self.kept += 1
            duplicates.append(duplicate)
        self._index.compact()
        return duplicates


class Cleaner:
    """Decides, a batch of rows at a time, and keeps the counts for the report.

    Example:
        >>> cleaner = Cleaner(PrepConfig())
        >>> cleaner.clean([{"text": " cafe\\N{COMBINING ACUTE ACCENT}\\x00  au\\tlait "}])
        [({'text': 'café au lait'}, None, 'train')]
    """

    def __init__(self, config):
        self.config = config
        self.rows_read = 0
        self.removed = dict.fromkeys(REMOVAL_RULES, 0)
        self.edited = dict.fromkeys(EDIT_RULES, 0)
        self.written = {"train": 0, "validation": 0}
        self._seen = HashIndex()
        threshold = config.near_dup_threshold
        self._near = NearDuplicates(threshold) if 0 < threshold < 1 else None

    def clean(self, rows):
        """For each row ({field: text}) returns (cleaned texts, the removal rule
        that dropped it or None, 'train' or 'validation')."""
        results, keys, digests = [], [], []
        for texts in rows:
            cleaned, edits = {}, set()
            for field, text in texts.items():
                cleaned[field], changed = clean_text(text, self.config.normalize)
                edits.update(changed)
            for rule in edits:
                self.edited[rule] += 1
            keys.append("\x1f".join(cleaned.values()).casefold())  # \x1f never survives cleaning
            digests.append(text_hash(keys[-1]))
            split = "validation" if (digests[-1] >> 11) * 2.0**-53 < \
                self.config.validation_fraction else "train"
            results.append([cleaned, self._length_rule(cleaned.values()), split])
        # exact duplicates: rows already kept, or earlier in this batch
        found = self._seen.find(np.array(digests, np.uint64)).tolist()
        unique = []
        for i, result in enumerate(results):
            if result[1] is None:
                if found[i] >= 0 or digests[i] in self._seen.recent:
                    result[1] = "exact_duplicate"
                else:
                    self._seen.add(digests[i], 0)
                    unique.append(i)
        self._seen.compact()
        if self._near is not None and unique:
            for i, duplicate in zip(unique, self._near.check([keys[i] for i in unique])):
                if duplicate:
                    results[i][1] = "near_duplicate"
        self.rows_read += len(results)
        for _, reason, split in results:
            if reason:
                self.removed[reason] += 1
            else:
                self.written[split] += 1
        return [tuple(result) for result in results]

    def _length_rule(self, texts):
        c = self.config
        for text in texts:
            chars, words = len(text), len(text.split())
            if not chars:
                return "empty"
            if chars < c.min_chars or words < c.min_words:
                return "too_short"
            if (c.max_chars and chars > c.max_chars) or (c.max_words and words > c.max_words):
                return "too_long"
        return None

    def index_bytes(self):
        return self._seen.nbytes + (self._near.nbytes if self._near else 0)


# --- reading and writing files ------------------------------------------------

def _rows(paths, fields, text_mode):
    """Yields (text fields, whole row, {field: column}) for every row of every file.

    The training readers check the rows (errors name file:line); the whole row
    (None for plain text) is what gets written back, with the cleaned texts
    in their columns."""
    header = None
    for path in paths:
        fmt = readers.file_format(path)
        rows = readers.iter_rows(path, fields, text_mode)
        if fmt == "text":
            for _, texts in rows:
                yield texts, None, None
            continue
        raw = readers._jsonl_rows(path) if fmt == "jsonl" else \
            readers._delimited_rows(path, "\t" if fmt == "tsv" else ",")
        columns = None
        for (number, texts), (_, row) in zip(rows, raw):  # the same rows in order
            if columns is None:
                columns = readers._resolve_columns(path, list(row), fields, number)
                header = header or list(row)
                if fmt != "jsonl" and list(row) != header:
                    raise readers.DataError(f"{path}:1: columns ({', '.join(row)}) differ "
                                            f"from the first file's ({', '.join(header)})")
            yield texts, row, columns


def _batches(items, max_chars=1 << 16, max_rows=4096):
    """Groups (texts, ...) items into lists of about `max_chars` characters."""
    batch, chars = [], 0
    for item in items:
        batch.append(item)
        chars += sum(len(t) for t in item[0].values())
        if chars >= max_chars or len(batch) >= max_rows:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


class _Writer:
    """Writes rows in the format of `fmt` (a header first for tsv/csv)."""

    def __init__(self, handle, fmt, text_mode):
        self.handle, self.fmt, self.header = handle, fmt, None
        self.separator = "\n\n" if text_mode == "paragraph" else "\n"
        self._csv = csv.writer(handle, lineterminator="\n") if fmt == "csv" else None

    def write(self, row):
        if self.fmt == "text":
            self.handle.write(row + self.separator)
        elif self.fmt == "jsonl":
            self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self.write_header(list(row))
            self._line(list(row.values()))

    def write_header(self, header):
        if self.header is None and self.fmt in ("tsv", "csv"):
            self.header = header
            self._line(header)

    def _line(self, values):
        if self._csv:
            self._csv.writerow(values)
        else:  # tsv is read without quoting, so it is written without it
            self.handle.write("\t".join(values) + "\n")


@contextlib.contextmanager
def _atomic_open(path):
    """A text file written under a temporary name and renamed at the end."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def prepare(paths, output, config=None, validation_output=None):
    """Cleans `paths` (one format) into `output` (and, with a validation
    fraction, `validation_output`); writes `<output>.report.json` and returns
    the report."""
    config = config or PrepConfig()
    fmt = readers.file_format(output)
    cleaner = Cleaner(config)
    with contextlib.ExitStack() as stack:
        writers = {"train": _Writer(stack.enter_context(_atomic_open(output)), fmt, config.text_mode)}
        if config.validation_fraction > 0:
            writers["validation"] = _Writer(stack.enter_context(_atomic_open(validation_output)),
                                            fmt, config.text_mode)
        header = None  # tsv/csv: written even when every row is dropped
        for batch in _batches(_rows(paths, config.fields, config.text_mode)):
            results = cleaner.clean([texts for texts, _, _ in batch])
            for (_, row, columns), (cleaned, reason, split) in zip(batch, results):
                header = header or (row and list(row))
                if reason:
                    continue
                if row is None:
                    writers[split].write(cleaned["text"])
                else:
                    writers[split].write({**row, **{columns[f]: t for f, t in cleaned.items()}})
        for writer in writers.values():
            if header:
                writer.write_header(header)
    report = {
        "inputs": list(paths), "output": output,
        "validation_output": validation_output if config.validation_fraction > 0 else None,
        "rows_read": cleaner.rows_read,
        "rows_written": cleaner.written["train"] + cleaner.written["validation"],
        "rows_validation": cleaner.written["validation"],
        "removed": cleaner.removed, "edited": cleaner.edited,
        "index_bytes": cleaner.index_bytes(),
        "config": {**dataclasses.asdict(config), "fields": list(config.fields)},
    }
    atomic_write_text(output + ".report.json", json.dumps(report, indent=2) + "\n")
    return report


def format_report(report):
    """A few lines for the terminal."""
    lines = [f"read {report['rows_read']} rows, wrote {report['rows_written']} "
             f"-> {report['output']}"]
    if report["validation_output"]:
        lines.append(f"  of which {report['rows_validation']} -> {report['validation_output']}")
    lines.append("  removed: " + ", ".join(f"{k} {v}" for k, v in report["removed"].items()))
    lines.append("  edited:  " + ", ".join(f"{k} {v}" for k, v in report["edited"].items()))
    lines.append(f"  report: {report['output']}.report.json")
    return "\n".join(lines)
