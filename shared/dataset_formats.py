"""Reading the file formats users hold (CSV, TSV, JSON Lines, Parquet) into a table of string columns.

The format comes from the file name's extension and is checked against the content (Parquet's `PAR1` magic, JSON
objects one per line, UTF-8 text). Every value becomes a string as typed in the file ("NA" and "1" stay "NA" and
"1"), a missing value becomes "". Columns are kept by position, since a CSV header may repeat a name, and are
pandas string columns backed by Arrow buffers, so a million-row file takes about its own size in memory.

CSV and TSV go through pandas' C parser (`dtype=str`, `keep_default_na=False`) and keep the rules of the csv module
the project used before: blank lines skipped, stray quotes inside a field kept, a short row's missing cells empty, a
long row's extra cells ignored, an unclosed quote an error naming its line, a field over `csv.field_size_limit()` an
error. JSON Lines lines are decoded by the json module one at a time, so a broken line is reported by number and a
column mixing 1 and 2.5 is not turned into floats (as `pandas.read_json` would); Parquet is read with pyarrow.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DatasetFormat = Literal["csv", "tsv", "jsonl", "parquet"]
FORMAT_EXTENSIONS: dict[str, DatasetFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
FORMAT_NAMES: dict[DatasetFormat, str] = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines", "parquet": "Parquet"}
ACCEPTED_EXTENSIONS = ", ".join(FORMAT_EXTENSIONS)
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = b"\xef\xbb\xbf"
JSONL_CHUNK_LINES = 65536
PARQUET_BATCH_ROWS = 65536
STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
_NON_SPACE = re.compile(rb"\S")


class DatasetError(ValueError):
    """The dataset or the sampling request is unusable; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class StringTable:
    """A file's header as written and the columns read, keyed by their position in the header; all strings."""

    header: list[str]
    columns: dict[int, pd.Series]
    n_rows: int


def dataset_format(name: str | None) -> DatasetFormat:
    """The format a file name's extension names; a name without a known extension is read as CSV, as before."""
    if not name:
        return "csv"
    return FORMAT_EXTENSIONS.get(PurePath(name.replace("\\", "/")).suffix.lower(), "csv")


def read_string_table(data: bytes, name: str | None = None, columns: Sequence[str] | None = None) -> StringTable:
    """Read `data` in the format its file `name` says; `columns` (names) limits what is read, all when None.

    Raises DatasetError when the content does not match the format or cannot be read; a name in `columns` that is
    not in the header is left out (the caller reports it with the available columns)."""
    fmt = dataset_format(name)
    if fmt != "parquet" and data.startswith(PARQUET_MAGIC):
        raise DatasetError(
            f"The file is a Parquet file but its name says {FORMAT_NAMES[fmt]}. Upload it with its .parquet extension."
        )
    if fmt == "parquet":
        return _read_parquet(data, columns)
    if fmt == "jsonl":
        return _read_jsonl(data, columns)
    return _read_delimited(data, fmt, columns)


def _empty_error(fmt: DatasetFormat) -> DatasetError:
    examples = {
        "csv": "Upload a CSV whose first line names the columns (e.g. text,label) followed by one row per example.",
        "tsv": "Upload a TSV whose first line names the columns (e.g. text<TAB>label) followed by one row per example.",
        "jsonl": 'Upload a JSON Lines file with one object per line, e.g. {"text": "...", "label": "..."}.',
        "parquet": "Upload a Parquet file with one row per example.",
    }
    return DatasetError(f"The file is empty. {examples[fmt]}")


def _no_rows_error() -> DatasetError:
    return DatasetError("The file has a header line but no data rows. Add one row per labelled example.")


def _wanted(header: Sequence[str], columns: Sequence[str] | None) -> list[int]:
    if columns is None:
        return list(range(len(header)))
    return sorted({index for index, name in enumerate(header) if name in columns})


# CSV and TSV


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


def _check_utf8(data: bytes) -> None:
    """Validate UTF-8 a megabyte at a time (no decoded copy of the file is kept); the error names the bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 1 << 20
    try:
        for start in range(0, len(data), step):
            decoder.decode(view[start : start + step], final=start + step >= len(data))
    except UnicodeDecodeError:
        decode_csv(data)
        raise


def _is_json_object(line: str) -> bool:
    if not line.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def sniff_delimiter(first_line: str) -> str:
    """Comma, unless the first line has none and has a tab, semicolon or pipe (in that order)."""
    if "," not in first_line:
        for candidate in ("\t", ";", "|"):
            if candidate in first_line:
                return candidate
    return ","


def parse_csv_records(text: str, delimiter: str) -> list[list[str]]:
    """CSV records by the csv module, blank lines skipped. Lenient about stray quotes inside fields (as spreadsheets
    are), but a quoted field left open at the end of the file is an error: it would silently swallow every
    following row. Used to phrase pandas' parse errors exactly."""
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


def _pandas_csv(data: bytes, delimiter: str, usecols: Sequence[int] | None, nrows: int | None = None) -> pd.DataFrame:
    """pandas' C parser with the csv module's rules (see the module docstring); raises DatasetError."""
    try:
        return pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            header=None,
            usecols=usecols,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            skip_blank_lines=True,
            encoding="utf-8",
            nrows=nrows,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        parse_csv_records(decode_csv(data), delimiter)
        raise DatasetError(
            f"The file is not a readable CSV ({exc}). Check the quoting and re-save it as a comma-separated UTF-8 file."
        ) from None


def _check_field_sizes(columns: dict[int, pd.Series]) -> None:
    limit = csv.field_size_limit()
    for column in columns.values():
        if len(column) and int(column.str.len().max()) > limit:
            raise DatasetError(
                f"The file is not a readable CSV (field larger than field limit ({limit})). Check "
                f"the quoting and re-save it as a comma-separated UTF-8 file."
            )


def _read_delimited(data: bytes, fmt: DatasetFormat, columns: Sequence[str] | None) -> StringTable:
    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    if _NON_SPACE.search(data, start) is None:
        raise _empty_error(fmt)
    _check_utf8(data)
    end = data.find(b"\n", start)
    first_line = data[start : end if end >= 0 else len(data)].decode("utf-8")
    if _is_json_object(first_line):
        raise DatasetError(
            f"The file holds JSON objects but its name says {FORMAT_NAMES[fmt]}. Upload it with a .jsonl extension."
        )
    delimiter = "\t" if fmt == "tsv" else sniff_delimiter(first_line)
    head = _pandas_csv(data, delimiter, None, nrows=1)
    header = [str(value).strip() for value in head.iloc[0].tolist()]
    wanted = _wanted(header, columns)
    frame = _pandas_csv(data, delimiter, wanted or [0])
    n_rows = len(frame) - 1
    if n_rows == 0:
        raise _no_rows_error()
    read = {index: frame[index].iloc[1:].reset_index(drop=True).astype(STRING_DTYPE) for index in wanted}
    _check_field_sizes(read)
    return StringTable(header=header, columns=read, n_rows=n_rows)


# JSON Lines


def _as_text(value: object) -> str | None:
    """A JSON value as the string the file spells: strings as they are, null missing, the rest as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _jsonl_objects(data: bytes) -> Iterator[tuple[int, dict[str, object]]]:
    """(line number, object) for every non-blank line; raises DatasetError naming the first bad line."""
    body = io.BytesIO(data)
    if data.startswith(UTF8_BOM):
        body.seek(len(UTF8_BOM))
    for number, raw in enumerate(body, start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"Line {number} of the JSON Lines file is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                f"column {exc.start + 1}). Re-save the file as UTF-8."
            ) from None
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"Line {number} of the JSON Lines file is not valid JSON: {exc.msg} at column "
                f"{exc.colno}. Each line must hold one JSON object, e.g. "
                f'{{"text": "...", "label": "..."}}; fix or remove that line.'
            ) from None
        if not isinstance(value, dict):
            raise DatasetError(
                f"Line {number} of the JSON Lines file holds a JSON {type(value).__name__}, not an "
                f'object. Each line must hold one JSON object, e.g. {{"text": "...", "label": '
                f'"..."}}.'
            )
        yield number, value


def _read_jsonl(data: bytes, columns: Sequence[str] | None) -> StringTable:
    header: list[str] = []
    known: set[str] = set()
    chunks: dict[str, list[pa.Array]] = {}
    pending: dict[str, list[str | None]] = {}
    n_rows = 0
    for _, value in _jsonl_objects(data):
        for key in value:
            if key not in known:
                known.add(key)
                header.append(key)
                if columns is None or key in columns:
                    chunks[key] = [pa.nulls(n_rows - n_rows % JSONL_CHUNK_LINES, pa.large_string())]
                    pending[key] = [None] * (n_rows % JSONL_CHUNK_LINES)
        for key, values in pending.items():
            values.append(_as_text(value.get(key)))
        n_rows += 1
        if n_rows % JSONL_CHUNK_LINES == 0:
            for key, values in pending.items():
                chunks[key].append(pa.array(values, pa.large_string()))
                pending[key] = []
    if n_rows == 0:
        raise _empty_error("jsonl")
    read = {}
    for key, values in pending.items():
        chunks[key].append(pa.array(values, pa.large_string()))
        read[header.index(key)] = _series(pa.chunked_array(chunks[key], pa.large_string()))
    return StringTable(header=header, columns=read, n_rows=n_rows)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _series(array: pa.ChunkedArray) -> pd.Series:
    """A pandas string column over the Arrow buffers (pandas keeps large_string; a string array is cast once)."""
    filled = array.fill_null("") if array.null_count else array
    if not pa.types.is_large_string(filled.type):
        filled = filled.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(filled), dtype=STRING_DTYPE, copy=False)


# Parquet


def _read_parquet(data: bytes, columns: Sequence[str] | None) -> StringTable:
    if len(data) < 12 or not (data.startswith(PARQUET_MAGIC) and data.endswith(PARQUET_MAGIC)):
        raise DatasetError(
            "The file is not a Parquet file: it does not start and end with the Parquet magic bytes "
            "PAR1. Upload the file pandas or pyarrow wrote (DataFrame.to_parquet), or give a CSV or "
            "JSON Lines file its own extension (.csv, .jsonl)."
        )
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        header = [str(name) for name in parquet.schema_arrow.names]
        wanted = _wanted(header, columns)
        names = [header[index] for index in wanted]
        # Batch by batch, so the decompressed pages of one batch (not of the whole file) are held at a time.
        batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=names, use_threads=False)
        table = pa.Table.from_batches(
            list(batches), schema=pa.schema([parquet.schema_arrow.field(name) for name in names])
        )
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(
            f"The file is not a readable Parquet file ({exc}). Re-write it with pandas "
            f"(DataFrame.to_parquet) or pyarrow."
        ) from None
    if parquet.metadata.num_rows == 0:
        raise _no_rows_error()
    read = {}
    for position, index in enumerate(wanted):
        column = table.column(position)
        try:
            text = column if _is_text(column.type) else column.cast(pa.large_string())
        except (pa.ArrowException, ValueError):
            raise DatasetError(
                f"The Parquet column {header[index]!r} has type {column.type}, which cannot be read "
                f"as text. Store the text and label columns as strings or numbers."
            ) from None
        read[index] = _series(text)
    return StringTable(header=header, columns=read, n_rows=parquet.metadata.num_rows)
