"""A CSV of odd but legitimate data, and the checks that every page, chart and export renders it intact.

Texts hold characters that break naive code: Unicode line and paragraph separators and NEL (which
`str.splitlines()` splits on), a carriage return and a CRLF inside quoted fields, tabs, a zero-width space,
right-to-left text and a bidi override. Labels look like HTML and like matplotlib mathtext. No cell starts with a
character that the CSV export neutralises (= + - @ tab CR NUL), so exports must give every string back byte for
byte. Importable from any test (tests/ is on sys.path through its conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from markupsafe import escape

LABELS = ("<b>pos</b>", "<script>neg</script>", "$a^^b$")
ODD_PIECES = (
    "line\u2028separator",
    "paragraph\u2029separator",
    "next\u0085line",
    "carriage\rreturn",
    "tab\tin\tthe middle",
    "zero\u200bwidth",
    "bidi \u202eoverride\u202c here",
    "مرحبا بالعالم (Arabic)",
    "שלום עולם (Hebrew)",
    "crlf\r\ninside",
    "vt\x0bff\x0cfs\x1cgs\x1drs\x1e",
)
# One word per label, so a classifier can learn them and every confusion-matrix cell has a chance to fill.
MARKERS = {"<b>pos</b>": "wonderful", "<script>neg</script>": "terrible", "$a^^b$": "scheduled"}


def odd_items(per_label: int = 8) -> list[tuple[str, str]]:
    """(text, label) pairs, `per_label` of each label, every text holding two odd pieces."""
    items = []
    for i in range(per_label):
        for k, label in enumerate(LABELS):
            first, second = ODD_PIECES[(i + k) % len(ODD_PIECES)], ODD_PIECES[(i + 2 * k + 5) % len(ODD_PIECES)]
            items.append((f"Item {i} {first} was {MARKERS[label]} {second}", label))
    return items


def odd_csv(per_label: int = 8) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["text", "label"])
    writer.writerows(odd_items(per_label))
    return buffer.getvalue().encode("utf-8")


def texts_by_row(per_label: int = 8) -> dict[int, str]:
    return dict(enumerate(text for text, _ in odd_items(per_label)))


def assert_renders_intact(client, exp_id: str, per_label: int = 8) -> dict:
    """Fetch every page, chart and export of a finished experiment on `odd_csv` with the Flask `client`; return
    the record. Labels and texts are escaped in HTML, charts are well-formed SVG, exports give them back as is."""
    texts = texts_by_row(per_label)
    record = json.loads(client.get(f"/api/experiments/{exp_id}").data)
    assert record["status"] == "succeeded", record
    assert record["split"]["labels"] == sorted(LABELS)
    assert set(record["dataset"]["class_counts"]) == set(LABELS)
    scored = [run for run in record["runs"] if run.get("metrics")]
    assert scored, record["runs"]

    shown_texts = [texts[p["row"]] for run in scored for p in run["predictions"]]
    for path in (
        "/experiments",
        f"/experiments/{exp_id}",
        f"/experiments/{exp_id}/results",
        f"/experiments/{exp_id}/results?show=errors",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        body = response.get_data(as_text=True)
        assert "<script>neg" not in body and "<b>pos</b>" not in body, path
        if path != "/experiments":
            for label in LABELS:
                assert str(escape(label)) in body, (path, label)
    results = client.get(f"/experiments/{exp_id}/results").get_data(as_text=True)
    for text in shown_texts:
        assert str(escape(text)) in results, text

    charts = ["comparison.svg"] + [f"confusion/{run['id']}.svg" for run in scored]
    for chart in charts:
        response = client.get(f"/experiments/{exp_id}/charts/{chart}")
        assert response.status_code == 200 and response.mimetype == "image/svg+xml", (chart, response.status_code)
        assert ET.fromstring(response.data).tag == "{http://www.w3.org/2000/svg}svg"
        assert b"<script" not in response.data

    exported = client.get(f"/experiments/{exp_id}/predictions.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"), newline="")))
    assert len(rows) == sum(len(run["predictions"]) for run in scored)
    for row in rows:
        assert row["text"] == texts[int(row["row"])]
        assert row["expected"] in LABELS and row["predicted"] in LABELS + ("",)

    download = client.get(f"/experiments/{exp_id}/record.json")
    assert download.status_code == 200
    body = json.loads(download.data)
    assert body["record"] == record
    assert set(body["manifest"]["dataset"]["class_counts"]) == set(LABELS)
    for run in body["record"]["runs"]:
        assert set(run["metrics"]["confusion_matrix"]["labels"]) == set(LABELS)
        assert {p["expected"] for p in run["predictions"]} <= set(LABELS)
    return record
