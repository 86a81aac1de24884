"""Reading a labelled CSV: decoding, parsing, choosing the text and label columns, and turning rows into items.

Row numbers (`Item.row`) are 0-based data-row numbers: the header is not counted, a record whose quoted text holds
a newline is one row, and blank lines (which hold no record) are skipped, as pandas does. Rows whose text or label is
missing or blank are dropped but keep their numbers, so a row number always points at the same record in the file.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TEXT_COLUMN_HINTS = ("text", "tweet", "review", "sentence", "content", "body", "message", "comment", "document")
LABEL_COLUMN_HINTS = ("label", "sentiment", "class", "category", "target", "intent", "tag", "polarity")
DETECT_SAMPLE_ROWS = 2000
MAX_LABEL_CARDINALITY = 50
UTF8_BOM = b"\xef\xbb\xbf"


class DatasetError(ValueError):
    """The dataset or the sampling request is unusable; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Item:
    row: int
    text: str
    label: str


@dataclass(frozen=True)
class DatasetSummary:
    """What a file holds for a choice of columns: for previews and the record's `dataset` section."""

    n_rows: int
    n_items: int
    dropped_rows: list[int]
    class_counts: dict[str, int]


def decode_csv(data: bytes) -> str:
    """Decode UTF-8 (with or without a BOM), or raise a DatasetError that points at the first bad byte."""
    body = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(data) - len(body))
        line = data[:offset].count(b"\n") + 1
        raise DatasetError(
            f"The file is not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line}) is not valid "
            f"UTF-8. Re-save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8'), or convert it, e.g. "
            f"`iconv -f latin1 -t utf-8 in.csv > out.csv` for a Latin-1 file."
        ) from None


def _delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    if "," not in first_line:
        for candidate in ("\t", ";", "|"):
            if candidate in first_line:
                return candidate
    return ","


def _parse(text: str, delimiter: str) -> list[list[str]]:
    """CSV records, blank lines skipped. Lenient about stray quotes inside fields (as spreadsheets are), but a quoted
    field left open at the end of the file is an error: it would silently swallow every following row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    last_line = 0
    try:
        for record in reader:
            last_line = reader.line_num
            if record:
                records.append(record)
        return records
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise DatasetError(
                f"A quoted field starting on line {last_line + 1} is never closed, so the rest of the file would be "
                f'read as one value. Add the missing closing quote (") or remove the stray opening one.'
            ) from None
    try:
        return [record for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if record]
    except csv.Error as exc:
        raise DatasetError(
            f"The file is not a readable CSV ({exc}). Check the quoting and re-save it as a comma-separated UTF-8 file."
        ) from None


def read_table(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Parse CSV bytes into (header, data rows); blank lines are skipped, quoted newlines stay inside a field."""
    text = decode_csv(data)
    if not text.strip():
        raise DatasetError(
            "The file is empty. Upload a CSV whose first line names the columns (e.g. text,label) "
            "followed by one row per example."
        )
    records = _parse(text, _delimiter(text))
    header = [name.strip() for name in records[0]]
    rows = records[1:]
    if not rows:
        raise DatasetError("The file has a header line but no data rows. Add one row per labelled example.")
    return header, rows


def column_index(header: Sequence[str], column: str, role: str) -> int:
    """The position of `column` in `header`, or a DatasetError listing the available columns."""
    matches = [i for i, name in enumerate(header) if name == column]
    if not matches:
        available = ", ".join(repr(name) for name in header)
        raise DatasetError(
            f"The {role} column {column!r} is not in the file. Available columns: {available}. "
            f"Choose one of them as the {role} column."
        )
    if len(matches) > 1:
        raise DatasetError(
            f"The {role} column {column!r} appears {len(matches)} times in the header; rename the "
            f"duplicates so the column is unambiguous."
        )
    return matches[0]


def _cell(row: Sequence[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def items_from_rows(
    header: Sequence[str], rows: Sequence[Sequence[str]], text_column: str, label_column: str
) -> tuple[list[Item], list[int]]:
    """(items, dropped row numbers): rows with missing or blank text or label are dropped."""
    text_index = column_index(header, text_column, "text")
    label_index = column_index(header, label_column, "label")
    if text_index == label_index:
        raise DatasetError(f"The text and label columns are both {text_column!r}; choose two different columns.")
    items: list[Item] = []
    dropped: list[int] = []
    for number, row in enumerate(rows):
        text, label = _cell(row, text_index), _cell(row, label_index).strip()
        if text.strip() and label:
            items.append(Item(row=number, text=text, label=label))
        else:
            dropped.append(number)
    if not items:
        raise DatasetError(
            f"No row has both a non-blank {text_column!r} and a non-blank {label_column!r}; "
            f"check that these are the right columns."
        )
    return items, dropped


def load_items(data: bytes, text_column: str, label_column: str) -> list[Item]:
    """The usable (text, label) items of a CSV file, in file order."""
    header, rows = read_table(data)
    return items_from_rows(header, rows, text_column, label_column)[0]


def summarize(data: bytes, text_column: str, label_column: str) -> DatasetSummary:
    header, rows = read_table(data)
    items, dropped = items_from_rows(header, rows, text_column, label_column)
    return DatasetSummary(n_rows=len(rows), n_items=len(items), dropped_rows=dropped, class_counts=class_counts(items))


def class_counts(items: Iterable[Item]) -> dict[str, int]:
    """Items per label, labels sorted."""
    counts = Counter(item.label for item in items)
    return {label: counts[label] for label in sorted(counts)}


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _hinted(name: str, hints: Sequence[str]) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in hints)


def detect_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[str | None, str | None]:
    """Guess (text column, label column): a well-filled, low-cardinality, non-numeric column is the label (name
    hints such as 'sentiment' or 'label' first); the column with the longest average value is the text."""
    sample = rows[:DETECT_SAMPLE_ROWS]
    if not sample:
        return None, None
    label_candidates = []
    text_candidates = []
    for index, name in enumerate(header):
        values = [_cell(row, index).strip() for row in sample]
        filled = [value for value in values if value]
        if not filled:
            continue
        fill_ratio = len(filled) / len(values)
        distinct = len(set(filled))
        numeric = all(_looks_numeric(value) for value in filled)
        average_length = sum(len(value) for value in filled) / len(filled)
        if 2 <= distinct <= MAX_LABEL_CARDINALITY and distinct < len(filled) and not numeric and fill_ratio >= 0.9:
            label_candidates.append((not _hinted(name, LABEL_COLUMN_HINTS), distinct, index, name))
        if not numeric:
            text_candidates.append((not _hinted(name, TEXT_COLUMN_HINTS), -average_length * fill_ratio, index, name))
    label = min(label_candidates)[-1] if label_candidates else None
    text_candidates = [candidate for candidate in text_candidates if candidate[-1] != label]
    text = min(text_candidates)[-1] if text_candidates else None
    return text, label
