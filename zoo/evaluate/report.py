"""Training report: loss, learning rate, throughput and eval curves of a model_dir.

Writes `report.png` (matplotlib) and a self-contained `report.html` (the
figure inlined, plus the last train and eval figures) into the model_dir.

Example:
    >>> write_report("runs/a")
    'runs/a/report.html'
"""
import base64
import html
import io
import json
import os

from zoo import fileio
from zoo.fileio import atomic_write_text


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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [(axes[0][0], "loss", "training loss"),
              (axes[0][1], "learning_rate", "learning rate"),
              (axes[1][0], "tokens_per_sec", "tokens/s (padded)")]
    for axis, key, title in panels:
        axis.plot(*_series(train, key), marker=".")
        axis.set_title(title)
        axis.set_xlabel("step")
    eval_axis = axes[1][1]
    numeric = {k for r in evaluation for k, v in r.items() if _is_number(v)}
    for key in sorted(numeric - {"step", "time", "seconds"}):
        eval_axis.plot(*_series(evaluation, key), marker="o", label=key)
    eval_axis.set_title("evaluation" if evaluation else "evaluation (no --eval_data)")
    eval_axis.set_xlabel("step")
    if evaluation:
        eval_axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


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
    """Writes report.png and report.html; returns the HTML path."""
    train, evaluation = read_log(model_dir, "train_log.jsonl"), read_log(model_dir, "eval_log.jsonl")
    if not train:
        raise FileNotFoundError(f"'{model_dir}' has no train_log.jsonl to report on")
    png = _figure(train, evaluation)
    png_path = os.path.join(model_dir, "report.png")
    fileio.atomic_write_bytes(png_path, png)
    page = (f"<!doctype html><meta charset='utf-8'><title>zoo report: "
            f"{html.escape(model_dir)}</title><h1>{html.escape(model_dir)}</h1>"
            f"<img alt='training curves' src='data:image/png;base64,"
            f"{base64.b64encode(png).decode()}'>"
            f"<h2>last training figures</h2>{_table(train[-1])}"
            + (f"<h2>last evaluation</h2>{_table(evaluation[-1])}" if evaluation else ""))
    path = os.path.join(model_dir, "report.html")
    atomic_write_text(path, page)
    return path
