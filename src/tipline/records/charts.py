"""Charts as PNG bytes, for reports sent as photos: horizontal stacked bars, one row per place.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state), so a chart can
be rendered in a worker thread while the bot goes on answering people. DejaVu Sans, matplotlib's bundled
font, has the Vietnamese letters.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

MAX_ROWS = 30  # more places than this and the chart shows the largest ones (the text lists them all)
COLOURS = ("#2e7d32", "#c62828", "#ef6c00", "#6d6d6d", "#1565c0", "#8e24aa")


def stacked_bars(title: str, rows: Sequence[str], series: Mapping[str, Sequence[float]], xlabel: str = "") -> bytes:
    """A horizontal stacked bar chart: ``rows`` top to bottom, one colour per series (label → a value per row)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = list(rows)[:MAX_ROWS]
    height = 1.6 + 0.38 * max(len(rows), 1)
    figure = Figure(figsize=(8.0, height), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for index, (label, values) in enumerate(series.items()):
        values = [float(v) for v in list(values)[: len(rows)]]
        if not any(values):
            continue
        axes.barh(positions, values, left=left, color=COLOURS[index % len(COLOURS)], label=label, height=0.7)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(positions)
    axes.set_yticklabels(rows, fontsize=9)
    axes.set_title(title, fontsize=11)
    if xlabel:
        axes.set_xlabel(xlabel, fontsize=9)
    axes.spines["top"].set_visible(False)
    axes.spines["right"].set_visible(False)
    if rows and any(left):
        axes.legend(fontsize=8, loc="lower right", frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
