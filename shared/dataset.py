"""Dataset preparation: read a labelled CSV, pick the text and label columns, and split it into train and test.

Row numbers (`Item.row`) are 0-based data-row numbers: the header is not counted, a record whose quoted text holds
a newline is one row, and blank lines (which hold no record) are skipped, as pandas does. Rows whose text or label is
missing or blank are dropped but keep their numbers, so a row number always points at the same record in the file.

The default sampling reproduces the reference experiment (a pandas script) exactly: per class, in file order, train
takes `train_counts[label]` rows from `train_offset` and test takes `test_counts[label]` rows from `test_offset`;
train lists classes in the order of `train_counts` (neutral, positive, negative), as the reference concatenates them.
"""
from __future__ import annotations

import csv
import io
import random
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Literal, Mapping, Sequence

REFERENCE_LABELS = ("negative", "neutral", "positive")
REFERENCE_TRAIN_COUNTS = {"neutral": 34, "positive": 33, "negative": 33}
REFERENCE_TEST_OFFSET = 100
REFERENCE_SAMPLE_SIZE = 100

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
class SamplingSpec:
    """How to draw train and test items. Counts map label -> number of items of that class.

    "balanced": per class in file order, `train_offset`/`test_offset` say where each sample starts.
    "random": per class, a shuffle seeded by `seed`; train takes the first items, test the next (offsets unused)."""

    mode: Literal["balanced", "random"] = "balanced"
    train_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    train_offset: int = 0
    test_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    test_offset: int = REFERENCE_TEST_OFFSET
    seed: int | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["train_counts"] = dict(self.train_counts)
        data["test_counts"] = dict(self.test_counts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> SamplingSpec:
        return cls(mode=data.get("mode", "balanced"), train_counts=dict(data["train_counts"]),
                   train_offset=int(data.get("train_offset", 0)), test_counts=dict(data["test_counts"]),
                   test_offset=int(data.get("test_offset", 0)), seed=data.get("seed"))


@dataclass(frozen=True)
class Split:
    train: list[Item]
    test: list[Item]
    labels: list[str]

    def to_dict(self) -> dict:
        """The record's `split` section: row numbers and per-class counts."""
        return {"train_rows": [item.row for item in self.train], "test_rows": [item.row for item in self.test],
                "train_counts": class_counts(self.train), "test_counts": class_counts(self.test),
                "labels": list(self.labels)}


@dataclass(frozen=True)
class DatasetSummary:
    """What a file holds for a choice of columns: for previews and the record's `dataset` section."""

    n_rows: int
    n_items: int
    dropped_rows: list[int]
    class_counts: dict[str, int]


def decode_csv(data: bytes) -> str:
    """Decode UTF-8 (with or without a BOM), or raise a DatasetError that points at the first bad byte."""
    body = data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(data) - len(body))
        line = data[:offset].count(b"\n") + 1
        raise DatasetError(
            f"The file is not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line}) is not valid "
            f"UTF-8. Re-save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8'), or convert it, e.g. "
            f"`iconv -f latin1 -t utf-8 in.csv > out.csv` for a Latin-1 file.") from None


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
                f"read as one value. Add the missing closing quote (\") or remove the stray opening one.") from None
    try:
        return [record for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if record]
    except csv.Error as exc:
        raise DatasetError(f"The file is not a readable CSV ({exc}). Check the quoting and re-save it as a "
                           f"comma-separated UTF-8 file.") from None


def read_table(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Parse CSV bytes into (header, data rows); blank lines are skipped, quoted newlines stay inside a field."""
    text = decode_csv(data)
    if not text.strip():
        raise DatasetError("The file is empty. Upload a CSV whose first line names the columns (e.g. text,label) "
                           "followed by one row per example.")
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
        raise DatasetError(f"The {role} column {column!r} is not in the file. Available columns: {available}. "
                           f"Choose one of them as the {role} column.")
    if len(matches) > 1:
        raise DatasetError(f"The {role} column {column!r} appears {len(matches)} times in the header; rename the "
                           f"duplicates so the column is unambiguous.")
    return matches[0]


def _cell(row: Sequence[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def items_from_rows(header: Sequence[str], rows: Sequence[Sequence[str]], text_column: str,
                    label_column: str) -> tuple[list[Item], list[int]]:
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
        raise DatasetError(f"No row has both a non-blank {text_column!r} and a non-blank {label_column!r}; "
                           f"check that these are the right columns.")
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


def _check_labels(labels: Sequence[str]) -> None:
    if len(set(labels)) < 2:
        found = f"only the class {labels[0]!r}" if labels else "no class"
        raise DatasetError(f"The label column has {found}; a classifier needs at least two classes. Check that the "
                           f"label column is the right one and that the file holds examples of every class.")


def even_counts(labels: Sequence[str], total: int) -> dict[str, int]:
    """Split `total` over the labels (sorted) as evenly as possible, the first labels taking the remainder."""
    ordered = sorted(set(labels))
    base, extra = divmod(total, len(ordered))
    if base == 0:
        raise DatasetError(f"{len(ordered)} classes cannot share {total} examples (at least one each); use fewer "
                           f"classes or a larger sample.")
    return {label: base + (1 if i < extra else 0) for i, label in enumerate(ordered)}


def reference_sampling(labels: Iterable[str]) -> SamplingSpec:
    """The reference experiment's split: for negative/neutral/positive exactly its 34/33/33 per class from offset 0
    (train) and 100 (test); for any other label set, 100 train and 100 test items shared evenly, same offsets."""
    labels = sorted(set(labels))
    _check_labels(labels)
    if tuple(labels) == REFERENCE_LABELS:
        counts = dict(REFERENCE_TRAIN_COUNTS)
    else:
        counts = even_counts(labels, REFERENCE_SAMPLE_SIZE)
    return SamplingSpec(mode="balanced", train_counts=counts, train_offset=0, test_counts=dict(counts),
                        test_offset=REFERENCE_TEST_OFFSET, seed=None)


def random_sampling(labels: Iterable[str], train_per_class: int, test_per_class: int,
                    seed: int | None = None) -> SamplingSpec:
    """A random stratified split; without a seed one is drawn and recorded so the split can be reproduced."""
    labels = sorted(set(labels))
    _check_labels(labels)
    return SamplingSpec(mode="random", train_counts={label: train_per_class for label in labels}, train_offset=0,
                        test_counts={label: test_per_class for label in labels}, test_offset=0,
                        seed=secrets.randbelow(2**31) if seed is None else seed)


def _by_class(items: Iterable[Item]) -> dict[str, list[Item]]:
    grouped: dict[str, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.label, []).append(item)
    return grouped


def _validate_spec(spec: SamplingSpec, grouped: Mapping[str, list[Item]]) -> None:
    if spec.mode not in ("balanced", "random"):
        raise DatasetError(f"Unknown sampling mode {spec.mode!r}; use 'balanced' or 'random'.")
    _check_labels(sorted(grouped))
    for name, counts, offset in (("train", spec.train_counts, spec.train_offset),
                                 ("test", spec.test_counts, spec.test_offset)):
        if not isinstance(offset, int) or offset < 0:
            raise DatasetError(f"The {name} offset is {offset!r}; it must be a whole number, 0 or more.")
        for label, count in counts.items():
            if not isinstance(count, int) or count < 0:
                raise DatasetError(f"The {name} count for {label!r} is {count!r}; it must be a whole number, 0 or "
                                   f"more.")
            if label not in grouped:
                present = ", ".join(repr(known) for known in sorted(grouped))
                raise DatasetError(f"The {name} sample asks for class {label!r}, which is not in the label column. "
                                   f"Classes present: {present}.")
    trained_classes = [label for label, count in spec.train_counts.items() if count > 0]
    if len(trained_classes) < 2:
        raise DatasetError(f"The train sample has items of {len(trained_classes)} class(es); a classifier needs at "
                           f"least two: give two or more classes a train count above 0.")
    if sum(spec.test_counts.values()) == 0:
        raise DatasetError("The test sample is empty; give at least one class a test count above 0.")


def _balanced(spec: SamplingSpec, grouped: Mapping[str, list[Item]], name: str) -> list[Item]:
    counts, offset = (spec.train_counts, spec.train_offset) if name == "train" else (spec.test_counts,
                                                                                     spec.test_offset)
    chosen: list[Item] = []
    for label, count in counts.items():
        available = len(grouped[label])
        if offset + count > available:
            raise DatasetError(
                f"Too few rows of class {label!r}: the {name} sample needs {count} from position {offset} "
                f"(that class's rows {offset} to {offset + count - 1} in file order) but the file has only "
                f"{available}. Lower the {name} count or offset for {label!r}, or use a file with more {label!r} rows.")
        chosen.extend(grouped[label][offset:offset + count])
    return chosen


def _random(spec: SamplingSpec, grouped: Mapping[str, list[Item]]) -> tuple[list[Item], list[Item]]:
    if spec.seed is None:
        raise DatasetError("Random sampling needs a seed so the split can be reproduced; set one.")
    rng = random.Random(spec.seed)
    train: list[Item] = []
    test: list[Item] = []
    for label in sorted(set(spec.train_counts) | set(spec.test_counts)):
        pool = list(grouped[label])
        n_train, n_test = spec.train_counts.get(label, 0), spec.test_counts.get(label, 0)
        if n_train + n_test > len(pool):
            raise DatasetError(
                f"Too few rows of class {label!r}: random sampling needs {n_train} train + {n_test} test = "
                f"{n_train + n_test} but the file has only {len(pool)}. Lower the counts for {label!r}.")
        rng.shuffle(pool)
        train.extend(sorted(pool[:n_train], key=lambda item: item.row))
        test.extend(sorted(pool[n_train:n_train + n_test], key=lambda item: item.row))
    return train, test


def split_items(items: Sequence[Item], spec: SamplingSpec) -> Split:
    """Draw the train and test items; raises DatasetError when impossible, and checks they share no row."""
    grouped = _by_class(items)
    _validate_spec(spec, grouped)
    if spec.mode == "balanced":
        train, test = _balanced(spec, grouped, "train"), _balanced(spec, grouped, "test")
    else:
        train, test = _random(spec, grouped)
    overlap = sorted({item.row for item in train} & {item.row for item in test})
    if overlap:
        raise DatasetError(
            f"Train and test share {len(overlap)} row(s) (first: row {overlap[0]}), so the test would score rows the "
            f"model was trained on. Move the test offset ({spec.test_offset}) to at least "
            f"{spec.train_offset + max(spec.train_counts.values())} (train offset + largest train count), or lower "
            f"the counts.")
    labels = sorted(set(spec.train_counts) | set(spec.test_counts))
    return Split(train=train, test=test, labels=labels)
