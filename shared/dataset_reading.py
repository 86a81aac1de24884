"""Reading a labelled table: choosing the text and label columns, and turning rows into items.

The bytes are read by `shared.dataset_formats` (CSV, TSV, JSON Lines or Parquet, by the file name). Row numbers
(`Item.row`) are 0-based data-row numbers: the header is not counted, a record whose quoted text holds a newline is
one row, and blank lines (which hold no record) are skipped, as pandas does. Rows whose text or label is missing or
blank are dropped but keep their numbers, so a row number always points at the same record in the file.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from shared.dataset_formats import UTF8_BOM, DatasetError, StringTable, dataset_format, decode_csv, read_string_table

TEXT_COLUMN_HINTS = ("text", "tweet", "review", "sentence", "content", "body", "message", "comment", "document")
LABEL_COLUMN_HINTS = ("label", "sentiment", "class", "category", "target", "intent", "tag", "polarity")
DETECT_SAMPLE_ROWS = 2000
MAX_LABEL_CARDINALITY = 50
ITEM_CHUNK_ROWS = 8192

__all__ = [
    "DETECT_SAMPLE_ROWS",
    "LABEL_COLUMN_HINTS",
    "MAX_LABEL_CARDINALITY",
    "TEXT_COLUMN_HINTS",
    "UTF8_BOM",
    "DatasetError",
    "DatasetSummary",
    "Item",
    "ItemColumns",
    "check_table",
    "class_counts",
    "column_index",
    "dataset_format",
    "decode_csv",
    "detect_columns",
    "group_by_label",
    "items_from_rows",
    "load_items",
    "read_items",
    "read_table",
    "summarize",
]


@dataclass(frozen=True, slots=True)
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


def read_table(data: bytes, name: str | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of a file in the format its `name` says (CSV when None); every cell a string, a short
    row's missing cells "". Holds every cell as a Python string: for previews and forms, not for big files."""
    table = read_string_table(data, name)
    columns = [table.columns[index].tolist() for index in range(len(table.header))]
    return table.header, [list(row) for row in zip(*columns, strict=True)]


def check_table(data: bytes, name: str | None = None) -> list[str]:
    """Read every column of a file as its format says, raising DatasetError at the first problem (the upload
    check), and return its header."""
    return read_string_table(data, name).header


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


class ItemColumns(Sequence[Item]):
    """The usable items of a table kept as columns (row numbers, label codes, and the file's text column in Arrow
    buffers) rather than one Python object per row, so a million-row file takes about its own size; an `Item` is
    made when it is read. Sampling reads every row's label but makes items only for the rows it draws."""

    def __init__(
        self,
        table: StringTable,
        text_index: int,
        rows: npt.NDArray[np.int64],
        codes: npt.NDArray[np.int32],
        labels: list[str],
        dropped_rows: list[int],
    ) -> None:
        self._texts = table.columns[text_index]
        self._rows = rows
        self._codes = codes
        self._labels = labels
        self.n_rows = table.n_rows
        self.dropped_rows = dropped_rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            return self._items(np.arange(len(self))[index])
        row = int(self._rows[index])
        return Item(row=row, text=str(self._texts.iat[row]), label=self._labels[int(self._codes[index])])

    def __iter__(self) -> Iterator[Item]:
        for start in range(0, len(self), ITEM_CHUNK_ROWS):
            yield from self._items(np.arange(start, min(start + ITEM_CHUNK_ROWS, len(self))))

    def _items(self, positions: npt.NDArray[np.int64]) -> list[Item]:
        rows = self._rows[positions]
        texts = self._texts.take(rows).tolist()
        return [
            Item(row=int(row), text=text, label=self._labels[int(code)])
            for row, text, code in zip(rows, texts, self._codes[positions], strict=True)
        ]

    def by_label(self) -> dict[str, Sequence[Item]]:
        """Items per label, each in file order, as views that make items only when read."""
        return {
            label: _ItemSubset(self, np.flatnonzero(self._codes == code)) for code, label in enumerate(self._labels)
        }

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self._codes, minlength=len(self._labels))
        return {label: int(counts[code]) for code, label in sorted(enumerate(self._labels), key=lambda p: p[1])}


class _ItemSubset(Sequence[Item]):
    """Some items of an ItemColumns, by position."""

    def __init__(self, items: ItemColumns, positions: npt.NDArray[np.int64]) -> None:
        self._all = items
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            return self._all._items(self._positions[index])
        return self._all[int(self._positions[index])]

    def __iter__(self) -> Iterator[Item]:
        for start in range(0, len(self), ITEM_CHUNK_ROWS):
            yield from self[start : start + ITEM_CHUNK_ROWS]


def read_items(data: bytes, text_column: str, label_column: str, name: str | None = None) -> ItemColumns:
    """The usable (text, label) items of a file in the format its `name` says, reading only those two columns."""
    table = read_string_table(data, name, columns=(text_column, label_column))
    text_index = column_index(table.header, text_column, "text")
    label_index = column_index(table.header, label_column, "label")
    if text_index == label_index:
        raise DatasetError(f"The text and label columns are both {text_column!r}; choose two different columns.")
    texts, labels = table.columns[text_index], table.columns[label_index]
    rows: array[int] = array("q")
    codes: array[int] = array("i")
    label_codes: dict[str, int] = {}
    dropped: list[int] = []
    for start in range(0, table.n_rows, ITEM_CHUNK_ROWS):
        chunk = zip(
            texts.iloc[start : start + ITEM_CHUNK_ROWS].tolist(),
            labels.iloc[start : start + ITEM_CHUNK_ROWS].tolist(),
            strict=True,
        )
        for number, (text, label) in enumerate(chunk, start):
            label = label.strip()
            if text.strip() and label:
                rows.append(number)
                codes.append(label_codes.setdefault(label, len(label_codes)))
            else:
                dropped.append(number)
    if not rows:
        raise DatasetError(
            f"No row has both a non-blank {text_column!r} and a non-blank {label_column!r}; "
            f"check that these are the right columns."
        )
    return ItemColumns(
        table,
        text_index,
        np.frombuffer(rows, dtype=np.int64),
        np.frombuffer(codes, dtype=np.int32),
        list(label_codes),
        dropped,
    )


def load_items(data: bytes, text_column: str, label_column: str, name: str | None = None) -> list[Item]:
    """The usable (text, label) items of a file, in file order, as a list (see `read_items` for big files)."""
    return list(read_items(data, text_column, label_column, name))


def summarize(data: bytes, text_column: str, label_column: str, name: str | None = None) -> DatasetSummary:
    items = read_items(data, text_column, label_column, name)
    return DatasetSummary(
        n_rows=items.n_rows, n_items=len(items), dropped_rows=items.dropped_rows, class_counts=items.class_counts()
    )


def group_by_label(items: Sequence[Item]) -> dict[str, Sequence[Item]]:
    """Items per label, each in file order (first-seen label order)."""
    if isinstance(items, ItemColumns):
        return items.by_label()
    grouped: dict[str, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.label, []).append(item)
    return dict(grouped)


def class_counts(items: Iterable[Item]) -> dict[str, int]:
    """Items per label, labels sorted."""
    if isinstance(items, ItemColumns):
        return items.class_counts()
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
