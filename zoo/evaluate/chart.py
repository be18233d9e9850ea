"""Line charts as SVG text, for the training report.

No plotting library: a report is written after every training run, and drawing
it should cost nothing next to the run (a few milliseconds, against most of a
CPU second and a second of import for a matplotlib figure). Kept beside
matplotlib for that reason and one more: matplotlib is no dependency of the zoo
(nor of its test extras), and a line chart of a few series with ticks is all the
report draws, so adding a plotting stack (and its fonts and backends) to every
install would buy nothing the report shows.

Example:
    >>> panel = line_chart("training loss", {"loss": ([10, 20, 30], [5.0, 3.1, 2.4])})
    >>> page = grid([panel, panel], columns=2)
    >>> page.startswith("<svg")
    True
"""
from html import escape

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40  # plot margins, pixels
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
TICKS = 5


def _span(values):
    low, high = min(values), max(values)
    if low == high:  # a flat line is drawn mid-height
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low, high


def _scale(low, high, start, end):
    return lambda value: start + (value - low) / (high - low) * (end - start)


def _ticks(low, high):
    return [low + (high - low) * i / (TICKS - 1) for i in range(TICKS)]


def line_chart(title, series, x_label="step", width=WIDTH, height=HEIGHT):
    """One panel: `series` maps a name to (xs, ys); a legend when there are
    several. Empty series draw an empty panel with its title."""
    drawn = {name: list(zip(xs, ys)) for name, (xs, ys) in series.items() if xs}
    parts = [f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">'
             f'{escape(title)}</text>']
    if drawn:
        points = [point for line in drawn.values() for point in line]
        (x_low, x_high), (y_low, y_high) = (_span([p[0] for p in points]),
                                            _span([p[1] for p in points]))
        x_of = _scale(x_low, x_high, LEFT, width - RIGHT)
        y_of = _scale(y_low, y_high, height - BOTTOM, TOP)
        for value in _ticks(y_low, y_high):
            y = y_of(value)
            parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="#e5e5e5"/><text x="{LEFT - 4}" y="{y + 4:.1f}" '
                         f'text-anchor="end" font-size="11">{value:.3g}</text>')
        for value in _ticks(x_low, x_high):
            parts.append(f'<text x="{x_of(value):.1f}" y="{height - BOTTOM + 15}" '
                         f'text-anchor="middle" font-size="11">{value:.4g}</text>')
        for index, (name, line) in enumerate(drawn.items()):
            colour = COLOURS[index % len(COLOURS)]
            path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in line)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="1.5"><title>{escape(name)}</title></polyline>')
            parts.extend(f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="2.5" '
                         f'fill="{colour}"/>' for x, y in line)
            if len(drawn) > 1:
                parts.append(f'<text x="{width - RIGHT - 4}" y="{TOP + 12 + 13 * index}" '
                             f'text-anchor="end" font-size="11" fill="{colour}">'
                             f'{escape(name)}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{height - BOTTOM}" '
                 f'stroke="black"/><line x1="{LEFT}" x2="{width - RIGHT}" '
                 f'y1="{height - BOTTOM}" y2="{height - BOTTOM}" stroke="black"/>'
                 f'<text x="{(LEFT + width - RIGHT) / 2}" y="{height - 6}" '
                 f'text-anchor="middle" font-size="12">{escape(x_label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif">{"".join(parts)}</svg>')


def grid(panels, columns=2, width=WIDTH, height=HEIGHT):
    """Panels from `line_chart` laid out in rows of `columns`, as one SVG."""
    rows = -(-len(panels) // columns)
    placed = "".join(
        panel.replace("<svg ", f'<svg x="{(i % columns) * width}" y="{(i // columns) * height}" ', 1)
        for i, panel in enumerate(panels))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{columns * width}" '
            f'height="{rows * height}">{placed}</svg>')
