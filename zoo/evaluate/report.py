"""Training report: loss, learning rate, throughput and eval curves of a model_dir.

Writes `report.svg` (zoo.evaluate.chart) and a self-contained `report.html`
(the figure inlined, plus the last train and eval figures) into the model_dir.

Example:
    >>> write_report("runs/a")
    'runs/a/report.html'
"""
import html
import json
import os

from zoo import fileio
from zoo.evaluate.chart import grid, line_chart
from zoo.atomic_files import atomic_write_text


def read_log(model_dir, name):
    path = os.path.join(model_dir, name)
    if not fileio.exists(path):
        return []
    with fileio.open_file(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series(records, key):
    """(steps, values) of the records whose `key` is a number; other lines (e.g. a
    `--mode=eval` line's file names) and missing values are left out."""
    points = [(r["step"], r[key]) for r in records
              if _is_number(r.get(key)) and _is_number(r.get("step"))]
    return [step for step, _ in points], [value for _, value in points]


def _figure(train, evaluation):
    """The report's four panels as one SVG: loss, learning rate, throughput, and
    every numeric evaluation figure."""
    panels = [line_chart(title, {key: _series(train, key)})
              for key, title in (("loss", "training loss"), ("learning_rate", "learning rate"),
                                 ("tokens_per_sec", "tokens/s (padded)"))]
    numeric = {k for r in evaluation for k, v in r.items() if _is_number(v)}
    panels.append(line_chart(
        "evaluation" if evaluation else "evaluation (no --eval_data)",
        {key: _series(evaluation, key) for key in sorted(numeric - {"step", "time", "seconds"})}))
    return grid(panels, columns=2)


def _cell(value):
    if _is_number(value):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape("" if value is None else str(value))


def _table(record):
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>"
                   for k, v in record.items() if k != "time")
    return f"<table>{rows}</table>"


def write_report(model_dir):
    """Writes report.svg and report.html (the figure inlined); returns the HTML path."""
    train, evaluation = read_log(model_dir, "train_log.jsonl"), read_log(model_dir, "eval_log.jsonl")
    if not train:
        raise FileNotFoundError(f"'{model_dir}' has no train_log.jsonl to report on")
    figure = _figure(train, evaluation)
    atomic_write_text(os.path.join(model_dir, "report.svg"), figure)
    page = (f"<!doctype html><meta charset='utf-8'><title>zoo report: "
            f"{html.escape(model_dir)}</title><h1>{html.escape(model_dir)}</h1>"
            f"<figure>{figure}</figure>"
            f"<h2>last training figures</h2>{_table(train[-1])}"
            + (f"<h2>last evaluation</h2>{_table(evaluation[-1])}" if evaluation else ""))
    path = os.path.join(model_dir, "report.html")
    atomic_write_text(path, page)
    return path
