"""Server-side charts as SVG (matplotlib, Agg/SVG backends, no pyplot global state).

Labels, model names and run titles come from users, so every chart is drawn and saved through `chart`, which turns
off everything that would read them as anything but text: mathtext (`$a^^b$` was a 500), TeX, and SVG text
elements (text is drawn as paths, so a label never becomes markup in the SVG). Every user string goes through
`chart_text` first, which also keeps characters XML cannot hold out of the SVG (matplotlib copies each text into
an XML comment, and one NUL made the file unreadable).
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Sequence
from typing import ParamSpec

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.typing import RcKeyType  # noqa: E402

from shared.record_types import LossPoint  # noqa: E402

MAX_LABEL_CHARS = 24
FEW_POINTS = 12
"""A loss curve of at most this many steps gets a marker on every point and a tick at every step."""
DATA_TEXT: dict[RcKeyType, object] = {"text.parse_math": False, "text.usetex": False, "svg.fonttype": "path"}
P = ParamSpec("P")


def chart_text(value: object) -> str:
    """A user string as one short line of plain text: control characters, line and paragraph separators and
    surrogates become spaces, invisible format characters (zero-width, bidi overrides) are dropped, and the
    result is cut to MAX_LABEL_CHARS."""
    kept = []
    for char in str(value):
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or char in "\ufffe\uffff":
            kept.append(" ")
        elif category != "Cf":
            kept.append(char)
    text = "".join(kept)
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def chart(draw: Callable[P, Figure]) -> Callable[P, bytes]:
    """Make a function that builds a Figure return its SVG, built and saved with every text taken literally.

    The settings must hold while saving too: tick labels are created when the figure is drawn.
    """

    @functools.wraps(draw)
    def render(*args: P.args, **kwargs: P.kwargs) -> bytes:
        buffer = io.BytesIO()
        with matplotlib.rc_context(DATA_TEXT):
            draw(*args, **kwargs).savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
        return buffer.getvalue()

    return render


@chart
def confusion_matrix_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Figure:
    """Rows are expected labels, columns predicted labels, as in the record's `metrics.confusion_matrix`."""
    size = max(3.2, 1.0 + 0.75 * len(labels))
    figure = Figure(figsize=(size + 0.8, size))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    short = [chart_text(label) for label in labels]
    axes.set_xticks(range(len(labels)), short, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), short)
    axes.set_xlabel("predicted")
    axes.set_ylabel("expected")
    axes.set_title(chart_text(title))
    peak = max((max(row) for row in matrix if row), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(
                j, i, str(count), ha="center", va="center", color="white" if peak and count > peak / 2 else "black"
            )
    return figure


@chart
def comparison_svg(names: Sequence[str], series: dict[str, Sequence[float | None]]) -> Figure:
    """Grouped bars: one group per run (`names`), one bar per metric in `series` (values 0..1, None drawn as 0)."""
    figure = Figure(figsize=(max(4.0, 1.4 * len(names) + 2), 3.6))
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    for k, (metric, values) in enumerate(series.items()):
        positions = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        heights = [value or 0.0 for value in values]
        bars = axes.bar(positions, heights, width, label=metric)
        axes.bar_label(bars, labels=["n/a" if v is None else f"{v:.2f}" for v in values], fontsize=8)
    axes.set_xticks(range(len(names)), [chart_text(name) for name in names], rotation=20, ha="right")
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("score")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_title("Comparison on the test set")
    return figure


@chart
def loss_curve_svg(curve: Sequence[LossPoint], title: str) -> Figure:
    """Training and validation loss by step (a run's `loss_curve`); each loss is drawn where it was measured, the
    validation loss with markers since providers score it at fewer steps. Lines carry the ids `train_loss` and
    `valid_loss` in the SVG."""
    figure = Figure(figsize=(5.6, 3.4))
    axes = figure.add_subplot()
    series = {
        "train_loss": ("training loss", [(p["step"], p["train_loss"]) for p in curve if p["train_loss"] is not None]),
        "valid_loss": ("validation loss", [(p["step"], p["valid_loss"]) for p in curve if p["valid_loss"] is not None]),
    }
    for gid, (label, points) in series.items():
        if points:
            few = len(points) <= FEW_POINTS  # a line through one or two points would hardly show: mark each one
            (line,) = axes.plot(
                [step for step, _ in points],
                [loss for _, loss in points],
                label=label,
                marker="o" if gid == "valid_loss" or few else None,
                markersize=3,
            )
            line.set_gid(gid)
    steps = sorted({point["step"] for point in curve})
    if len(steps) <= FEW_POINTS:
        axes.set_xticks(steps)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if any(points for _, points in series.values()):
        axes.legend()
    axes.set_title(chart_text(title))
    return figure
