"""Field-by-field overrides of config dataclasses from flag strings.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Cfg:
    ...     num_layers: int = 2
    ...     dropout: float = 0.1
    >>> apply_overrides(Cfg(), "num_layers=6,dropout=0")
    Cfg(num_layers=6, dropout=0.0)
"""
import dataclasses


class OverrideError(ValueError):
    pass


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_override_string(text):
    """'a=1,b=x' -> {'a': '1', 'b': 'x'}; an empty string gives {}."""
    pairs = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        if "=" not in item:
            raise OverrideError(f"override '{item}' is not of the form name=value")
        key, value = (s.strip() for s in item.split("=", 1))
        pairs[key] = value
    return pairs


def apply_overrides(config, overrides):
    """Returns a copy of dataclass `config` with fields replaced from overrides.

    `overrides` is a 'name=value,...' string or a dict; values are converted
    to each field's type. Unknown fields fail with the list of known ones.
    """
    if overrides is None or isinstance(overrides, str):
        overrides = parse_override_string(overrides)
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for key, raw in overrides.items():
        if key not in fields:
            raise OverrideError(
                f"unknown field '{key}' for {type(config).__name__}; "
                f"fields are: {', '.join(sorted(fields))}")
        current = getattr(config, key)
        changes[key] = _convert(raw, current, key)
    return dataclasses.replace(config, **changes)


def _convert(raw, current, key):
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(current, bool):
            low = raw.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError(raw)
            return low in _TRUE
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError:
        raise OverrideError(
            f"field '{key}' expects {type(current).__name__}, got '{raw}'") from None
    return raw
