"""Server-side charts as SVG (matplotlib, Agg/SVG backends, no pyplot global state).

Text is drawn as paths (matplotlib's default `svg.fonttype`), so label text taken from a dataset never becomes
markup in the SVG.
"""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

MAX_LABEL_CHARS = 24


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS - 1] + "…"


def _svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def confusion_matrix_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> bytes:
    """Rows are expected labels, columns predicted labels, as in the record's `metrics.confusion_matrix`."""
    size = max(3.2, 1.0 + 0.75 * len(labels))
    figure = Figure(figsize=(size + 0.8, size))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    short = [_short(label) for label in labels]
    axes.set_xticks(range(len(labels)), short, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), short)
    axes.set_xlabel("predicted")
    axes.set_ylabel("expected")
    axes.set_title(_short(title))
    peak = max((max(row) for row in matrix if row), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center",
                      color="white" if peak and count > peak / 2 else "black")
    return _svg(figure)


def comparison_svg(names: Sequence[str], series: dict[str, Sequence[float | None]]) -> bytes:
    """Grouped bars: one group per run (`names`), one bar per metric in `series` (values 0..1, None drawn as 0)."""
    figure = Figure(figsize=(max(4.0, 1.4 * len(names) + 2), 3.6))
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    for k, (metric, values) in enumerate(series.items()):
        positions = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        heights = [value or 0.0 for value in values]
        bars = axes.bar(positions, heights, width, label=metric)
        axes.bar_label(bars, labels=["n/a" if v is None else f"{v:.2f}" for v in values], fontsize=8)
    axes.set_xticks(range(len(names)), [_short(name) for name in names], rotation=20, ha="right")
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("score")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_title("Comparison on the test set")
    return _svg(figure)
