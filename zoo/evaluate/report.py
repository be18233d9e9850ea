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

from zoo.fileio import atomic_write_text


def read_log(model_dir, name):
    path = os.path.join(model_dir, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _figure(train, evaluation):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    steps = [r["step"] for r in train]
    panels = [(axes[0][0], "loss", "training loss"),
              (axes[0][1], "learning_rate", "learning rate"),
              (axes[1][0], "tokens_per_sec", "tokens/s (padded)")]
    for axis, key, title in panels:
        axis.plot(steps, [r.get(key) for r in train], marker=".")
        axis.set_title(title)
        axis.set_xlabel("step")
    eval_axis = axes[1][1]
    eval_steps = [r["step"] for r in evaluation]
    for key in sorted({k for r in evaluation for k in r} - {"step", "time"}):
        eval_axis.plot(eval_steps, [r.get(key) for r in evaluation], marker="o", label=key)
    eval_axis.set_title("evaluation" if evaluation else "evaluation (no --eval_data)")
    eval_axis.set_xlabel("step")
    if evaluation:
        eval_axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _table(record):
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>"
                   for k, v in record.items() if k != "time")
    return f"<table>{rows}</table>"


def write_report(model_dir):
    """Writes report.png and report.html; returns the HTML path."""
    train, evaluation = read_log(model_dir, "train_log.jsonl"), read_log(model_dir, "eval_log.jsonl")
    if not train:
        raise FileNotFoundError(f"'{model_dir}' has no train_log.jsonl to report on")
    png = _figure(train, evaluation)
    png_path = os.path.join(model_dir, "report.png")
    tmp = png_path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(png)
    os.replace(tmp, png_path)
    page = (f"<!doctype html><meta charset='utf-8'><title>zoo report: "
            f"{html.escape(model_dir)}</title><h1>{html.escape(model_dir)}</h1>"
            f"<img alt='training curves' src='data:image/png;base64,"
            f"{base64.b64encode(png).decode()}'>"
            f"<h2>last training figures</h2>{_table(train[-1])}"
            + (f"<h2>last evaluation</h2>{_table(evaluation[-1])}" if evaluation else ""))
    path = os.path.join(model_dir, "report.html")
    atomic_write_text(path, page)
    return path
