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
import json
import unicodedata

import numpy as np

from zoo.data.formats import readers
from zoo.data.formats.rows import delimited_rows, jsonl_rows
from zoo.prep.dedup import HashIndex, NearDuplicates, text_hash
from zoo.atomic_files import atomic_open, atomic_write_text

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
    columns: str = ""               # --columns: field=column,... (TSV/CSV/JSONL)


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

def _rows(paths, fields, text_mode, named=None):
    """Yields (text fields, whole row, {field: column}) for every row of every file.

    The training readers check the rows (errors name file:line); the whole row
    (None for plain text) is what gets written back, with the cleaned texts
    in their columns."""
    header = None
    for path in paths:
        fmt = readers.file_format(path)
        rows = readers.iter_rows(path, fields, text_mode, columns=named)
        if fmt == "text":
            for _, texts in rows:
                yield texts, None, None
            continue
        raw = jsonl_rows(path) if fmt == "jsonl" else \
            delimited_rows(path, "\t" if fmt == "tsv" else ",")
        columns = None
        for (number, texts), (_, row) in zip(rows, raw):  # the same rows in order
            if columns is None:
                columns = readers.resolve_columns(path, list(row), fields, number, named)
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


def prepare(paths, output, config=None, validation_output=None):
    """Cleans `paths` (one format) into `output` (and, with a validation
    fraction, `validation_output`); writes `<output>.report.json` and returns
    the report."""
    config = config or PrepConfig()
    fmt = readers.file_format(output)
    cleaner = Cleaner(config)
    with contextlib.ExitStack() as stack:
        writers = {"train": _Writer(stack.enter_context(atomic_open(output, newline="")), fmt, config.text_mode)}
        if config.validation_fraction > 0:
            writers["validation"] = _Writer(stack.enter_context(atomic_open(validation_output, newline="")),
                                            fmt, config.text_mode)
        header = None  # tsv/csv: written even when every row is dropped
        for batch in _batches(_rows(paths, config.fields, config.text_mode,
                                    readers.parse_columns(config.columns))):
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
