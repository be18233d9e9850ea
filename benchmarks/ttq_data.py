"""Data splits, shared metric code and curve arithmetic of benchmarks/time_to_quality.py.

Both sides of a pair are scored by the functions here, on the same held-out
data: `next_token_nll` (char LM val loss), `masked_accuracy` (MLM) and
`bleu` (translation, sacrebleu corpus BLEU, 13a, cased). Nothing here
imports TensorFlow, so the driver stays light.

Example:
    >>> split_text("input.txt", "work/char", 0.1)      # work/char/train.txt, val.txt
    >>> curve_at([(30.0, 2.1), (61.0, 1.9)], [30, 60, 90])
    [2.1, 2.1, 1.9]
    >>> time_to_target([(30.0, 2.1), (61.0, 1.5)], 1.55, lower_is_better=True)
    61.0
"""
import math
import os


def split_text(path, workdir, val_fraction=0.1):
    """The first 1 - val_fraction of a text file (cut at a line end) as train.txt,
    the rest as val.txt (nanoGPT's tiny-shakespeare split); returns both paths."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    cut = text.rfind("\n", 0, int(len(text) * (1 - val_fraction))) + 1
    return _write(workdir, {"train.txt": text[:cut], "val.txt": text[cut:]})


def split_lines(path, workdir, every=100):
    """Every `every`-th line (1%: one review in 100) as heldout.txt, the others as
    train.txt; returns both paths."""
    train, held = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            (held if number % every == every - 1 else train).append(line)
    return _write(workdir, {"train.txt": "".join(train), "heldout.txt": "".join(held)})


def _write(workdir, files):
    os.makedirs(workdir, exist_ok=True)
    paths = []
    for name, text in files.items():
        paths.append(os.path.join(workdir, name))
        with open(paths[-1], "w", encoding="utf-8") as handle:
            handle.write(text)
    return paths


def paragraphs(text):
    """Blank-line separated paragraphs, their lines joined by '\\n' (as
    zoo-train --text_mode=paragraph reads them)."""
    found, lines = [], []
    for line in text.split("\n"):
        if line.strip():
            lines.append(line)
        elif lines:
            found.append("\n".join(lines))
            lines = []
    if lines:
        found.append("\n".join(lines))
    return found


def windows(ids, width, limit=0):
    """Consecutive non-overlapping rows of `width` ids (the tail dropped), at most
    `limit` rows (0: all), as a list of lists."""
    rows = [list(ids[i:i + width]) for i in range(0, len(ids) - width + 1, width)]
    return rows[:limit] if limit else rows


def next_token_nll(log_probs_fn, rows, batch_size=64):
    """Mean -log p(next token) over every position of the rows: log_probs_fn maps
    a batch of rows[:, :-1] (lists) to log-probabilities [batch, width-1, vocab]
    (numpy). The val loss of the char-LM pair, for both sides."""
    import numpy as np
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = np.asarray(rows[start:start + batch_size])
        log_probs = log_probs_fn(batch[:, :-1])
        picked = np.take_along_axis(log_probs, batch[:, 1:, None], axis=-1)[..., 0]
        total, count = total - float(picked.sum()), count + picked.size
    return total / count


def masked_accuracy(predictions, labels, weights):
    """Share of the weighted masked positions whose argmax is the label; the MLM
    pair's metric for both sides. predictions [n, slots, vocab] (logits or probs)."""
    import numpy as np
    hits = (np.argmax(predictions, axis=-1) == labels) * weights
    return float(hits.sum() / max(weights.sum(), 1))


def bleu(hypotheses, references):
    """sacrebleu corpus BLEU (13a tokenization, cased) of detokenized strings."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def time_points(budget, points):
    """`points` evenly spaced wall times (s) ending at the budget."""
    return [budget * (k + 1) / points for k in range(points)]


def pick_snapshots(snapshots, points):
    """For each time point, the latest snapshot (dict with 'time') at or before it
    (None before the first); duplicates are the same object."""
    ordered = sorted(snapshots, key=lambda s: s["time"])
    chosen = []
    for point in points:
        before = [s for s in ordered if s["time"] <= point + 1e-9]
        chosen.append(before[-1] if before else None)
    return chosen


def curve_at(scored, points):
    """[(time, metric)] of the scored snapshots -> the metric at each point (that
    of the latest snapshot by then; None before the first)."""
    values = []
    for point in points:
        before = [m for t, m in sorted(scored) if t <= point + 1e-9]
        values.append(before[-1] if before else None)
    return values


def time_to_target(scored, target, lower_is_better):
    """The wall time of the first scored snapshot meeting the target, else None."""
    for when, metric in sorted(scored):
        if metric is not None and not math.isnan(metric) and \
                (metric <= target if lower_is_better else metric >= target):
            return when
    return None


def ratio_line(name, zoo_time, peer_time, target, unit=""):
    """'<pair>: time to <target>: zoo X s, peer Y s, zoo/peer R' (or 'not reached')."""
    def shown(seconds):
        return "not reached" if seconds is None else f"{seconds:.0f} s"
    ratio = f"{zoo_time / peer_time:.2f}" if zoo_time and peer_time else "n/a"
    target = "n/a" if math.isnan(target) else f"{target:g}{unit}"
    return (f"{name}: time to {target}: zoo {shown(zoo_time)}, peer "
            f"{shown(peer_time)}, zoo/peer {ratio}")
