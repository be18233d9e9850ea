"""Which column of a data file holds each field the task reads: the column of the
field's own name, else an alias (`FIELD_ALIASES`), else the one `--columns` names.

Example:
    >>> parse_columns("text=#1 String,text_b=#2 String,label=Quality")
    {'text': '#1 String', 'text_b': '#2 String', 'label': 'Quality'}
    >>> resolve_columns("train.tsv", ["Quality", "#1 String"], ("text",),
    ...                 named={"text": "#1 String"})
    {'text': '#1 String'}
"""


class DataError(ValueError):
    """Malformed input; the message starts with `file:line:` where known."""


#: Column names accepted for a field when no column has the field's own name.
FIELD_ALIASES = {"text": ("sentence", "sentence1", "document", "content"),
                 "text_b": ("sentence2",)}


def parse_columns(spec):
    """{field: column} from `text=#1 String,text_b=#2 String,label=Quality` (a dict
    is returned as it is; empty: {}). Column names are taken verbatim (spaces kept)."""
    if isinstance(spec, dict):
        return dict(spec)
    mapping = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        field, equals, column = part.partition("=")
        field = field.strip()
        if not equals or not field or not column:
            raise ValueError(f"--columns: '{part}' is not field=column (e.g. "
                             "text=#1 String,label=Quality)")
        if field in mapping:
            raise ValueError(f"--columns: field '{field}' is mapped twice")
        mapping[field] = column
    return mapping


def check_columns(columns, fields):
    """Fails when `columns` maps a field the reader does not read."""
    unknown = [f for f in parse_columns(columns) if f not in fields]
    if unknown:
        raise ValueError(f"--columns maps {', '.join(repr(f) for f in unknown)}, which "
                         f"is not read here: the fields are {', '.join(fields)}")


def shown(text):
    """`text` for a message: unpaired surrogates (from JSON escapes) as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def resolve_columns(path, columns, fields, line=1, named=None):
    """Maps each field to a column: the one `named` ({field: column}, --columns)
    gives, else the field's own name, else an alias."""
    mapping = {}
    for field in fields:
        if named and field in named:
            if named[field] not in columns:
                raise DataError(f"{path}:{line}: no column '{shown(named[field])}' (--columns "
                                f"{field}={shown(named[field])}); columns: "
                                f"{shown(', '.join(columns)) or 'none'}")
            mapping[field] = named[field]
            continue
        for candidate in (field,) + FIELD_ALIASES.get(field, ()):
            if candidate in columns:
                mapping[field] = candidate
                break
        else:
            raise DataError(f"{path}:{line}: no column '{field}' (columns: "
                            f"{shown(', '.join(columns)) or 'none'})")
    return mapping
