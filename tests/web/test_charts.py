"""The SVG charts: well-formed SVG, one cell label per matrix entry, dataset text never becoming markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from web.charts import chart_text, comparison_svg, confusion_matrix_svg, loss_curve_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_confusion_matrix_is_svg_with_payload_labels_inert():
    labels = ["negative", '<script>alert("x")</script>', "positive"]
    svg = confusion_matrix_svg(labels, [[5, 1, 0], [2, 3, 1], [0, 0, 7]], "run-1 local-tfidf")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script"))
    assert b"<script>" not in svg


def test_comparison_chart_handles_missing_scores():
    svg = comparison_svg(["run-1 a", "run-2 b"], {"accuracy": [0.8, None], "macro-F1": [0.75, None]})
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert b"n/a" in svg, "a run without scores is labelled, not drawn as a zero score"
    assert b"n/a" not in comparison_svg(["run-1 a"], {"accuracy": [0.8], "macro-F1": [0.75]})


HOSTILE_TEXTS = [
    "$a^^b$",
    r"$\frac{$",
    "$",
    "50$ and $x",
    "<b>pos</b>",
    "\u202eevil\u202c",
    "\u200b",
    "שלום",
    "نعم",
    "a\u2028b",
    "tab\there",
    "cr\rlf\nnl",
    "\x00nul\x1b\x85",
    "\ud800\uffff",
    "",
    "%s {0} {text}",
    "--><script>alert(1)</script><!--",
]


def test_labels_and_model_names_are_data_not_mathtext():
    """`$a^^b$` made the confusion chart a 500 (matplotlib parsed it as a broken formula); a NUL made the SVG
    ill-formed XML (matplotlib copies each text into an XML comment)."""
    n = len(HOSTILE_TEXTS)
    matrix = [[int(i == j) for j in range(n)] for i in range(n)]
    assert ET.fromstring(confusion_matrix_svg(HOSTILE_TEXTS, matrix, "run-1 $a^^b$")).tag == f"{SVG}svg"
    scores = [0.5] * n
    assert ET.fromstring(comparison_svg(HOSTILE_TEXTS, {"accuracy": scores, "macro-F1": scores})).tag == f"{SVG}svg"


def test_loss_curve_draws_both_losses_and_keeps_a_hostile_title_inert():
    curve = [
        {"step": 1, "train_loss": 1.2, "valid_loss": None},
        {"step": 2, "train_loss": 0.9, "valid_loss": 1.0},
        {"step": 3, "train_loss": None, "valid_loss": 0.8},
        {"step": 4, "train_loss": 0.5, "valid_loss": None},
    ]
    for title in HOSTILE_TEXTS:
        svg = loss_curve_svg(curve, title)
        assert ET.fromstring(svg).tag == f"{SVG}svg" and b"<script" not in svg
    lines = {element.get("id") for element in ET.fromstring(loss_curve_svg(curve, "t")).iter(f"{SVG}g")}
    assert {"train_loss", "valid_loss"} <= lines, "each loss is its own labelled line"
    train_only = {
        element.get("id")
        for element in ET.fromstring(loss_curve_svg([{"step": 1, "train_loss": 1.0, "valid_loss": None}], "t")).iter(
            f"{SVG}g"
        )
    }
    assert "train_loss" in train_only and "valid_loss" not in train_only


def test_chart_text_keeps_letters_and_drops_what_xml_or_a_single_line_cannot_hold():
    assert chart_text("$a^^b$") == "$a^^b$"
    assert chart_text("שלום \u202eevil\u200b") == "שלום evil"
    assert chart_text("a\u2028b\tc\r\nd\x00\ud800") == "a b c  d  "
    assert chart_text("x" * 30) == "x" * 23 + "…"


def test_a_dollar_label_is_drawn_as_its_characters():
    """Drawn as text, `$x$` has the dollar glyphs and the upright x; as mathtext it would be an italic x alone."""
    as_text = confusion_matrix_svg(["$x$", "y"], [[1, 0], [0, 1]], "t")
    assert as_text != confusion_matrix_svg(["x", "y"], [[1, 0], [0, 1]], "t")
    font = FT2Font(font_manager.findfont("DejaVu Sans"))
    assert f'id="DejaVuSans-{font.get_char_index(ord("$")):x}"'.encode() in as_text, "the dollar glyph is drawn"
    assert b"DejaVuSans-Oblique" not in as_text, "no mathtext italics"
