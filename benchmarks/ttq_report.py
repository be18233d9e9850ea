"""The printed table and the plot of benchmarks/time_to_quality.py's results.

A result is the dict `time_to_quality._score_pair` returns: pair, metric,
lower, target, budget, points, curves, times, scores and zoo_command.

Example:
    >>> print_result(result)          # the curves and the ratio line
    >>> plot([result], "runs/ttq.png")  # PNG with matplotlib, else an SVG beside it
"""
import math
import os

import ttq_data


def print_result(result):
    """The pair's header, curves table, snapshot counts and ratio line."""
    better = "lower" if result["lower"] else "higher"
    target = "n/a (the peer's value at the budget: it has none)" \
        if math.isnan(result["target"]) else f"{result['target']:.4g}"
    print(f"== {result['pair']}: {result['metric']} ({better} is better), target {target}, "
          f"{result['budget']:.0f} s a side")
    print(f"  zoo: {result['zoo_command']}")
    print(f"  {'time (s)':>9}{'zoo':>10}{'peer':>10}")
    for i, point in enumerate(result["points"]):
        row = [result["curves"][s][i] for s in ("zoo", "peer")]
        print(f"  {point:>9.0f}" + "".join("         -" if v is None else f"{v:>10.4f}"
                                           for v in row))
    for side in ("zoo", "peer"):
        last = result["scores"].get(side) or []
        print(f"  {side}: {len(last)} snapshot(s) scored"
              + (f", the last at {last[-1][0]:.0f} s (step {last[-1][2]})" if last else ""))
    print(ttq_data.ratio_line(result["pair"], result["times"]["zoo"], result["times"]["peer"],
                              result["target"]), flush=True)


def plot(results, path):
    """One panel per pair, both curves and the target; PNG via matplotlib, else SVG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = os.path.splitext(path)[0] + ".svg"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(svg(results))
        return path
    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for axis, result in zip(axes[0], results):
        for side in ("zoo", "peer"):
            scored = [(t / 60, m) for t, m, _ in result["scores"].get(side, [])]
            if scored:
                axis.plot(*zip(*scored), marker="o", label=side)
        axis.axhline(result["target"], color="grey", linestyle="--", label="target")
        axis.set(title=result["pair"], xlabel="wall time (min)", ylabel=result["metric"])
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def svg(results):
    """A plain SVG of the curves (no matplotlib): one 400x260 panel per pair."""
    parts = []
    for n, result in enumerate(results):
        values = [m for side in result["scores"].values() for _, m, _ in side] + \
            [result["target"]]
        low, high = min(values), max(values) if max(values) > min(values) else min(values) + 1
        x0 = 420 * n

        def xy(t, m):
            return (x0 + 40 + 340 * t / result["budget"],
                    230 - 200 * (m - low) / (high - low))
        parts.append(f'<text x="{x0 + 40}" y="15">{result["pair"]}: {result["metric"]}</text>')
        for side, color in (("zoo", "blue"), ("peer", "red")):
            points = " ".join("%.1f,%.1f" % xy(t, m) for t, m, _ in result["scores"].get(side, []))
            parts.append(f'<polyline fill="none" stroke="{color}" points="{points}"/>')
        y = xy(0, result["target"])[1]
        parts.append(f'<line x1="{x0 + 40}" x2="{x0 + 380}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="grey" stroke-dasharray="4"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{420 * len(results)}" '
            f'height="260">' + "".join(parts) + "</svg>\n")
