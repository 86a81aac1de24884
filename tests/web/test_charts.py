"""The SVG charts: well-formed SVG, one cell label per matrix entry, dataset text never becoming markup."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from web.charts import comparison_svg, confusion_matrix_svg

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
