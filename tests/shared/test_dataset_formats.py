"""CSV, TSV, JSON Lines and Parquet read into the same items; each format's content is checked and its errors say
what and where. Files are written by pandas and pyarrow, as users' tools write them."""

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.dataset_formats import dataset_format
from shared.dataset_reading import DatasetError, Item, check_table, load_items, read_items, read_table, summarize
from shared.dataset_sampling import SamplingSpec, random_sampling, reference_sampling, split_items

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"
ROWS = [
    ("great flight", "positive"),
    ("", "negative"),
    ("lost my bag", "NA"),
    ("on time", "1"),
    ('multi\nline, "quoted"', "positive"),
]


def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["text", "label"])


def as_bytes(fmt: str, data: pd.DataFrame | None = None) -> bytes:
    data = frame() if data is None else data
    buffer = io.BytesIO()
    if fmt == "csv":
        data.to_csv(buffer, index=False)
    elif fmt == "tsv":
        data.to_csv(buffer, index=False, sep="\t")
    elif fmt == "jsonl":
        data.to_json(buffer, orient="records", lines=True, force_ascii=False)
    else:
        data.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


NAMES = {"csv": "d.csv", "tsv": "d.tsv", "jsonl": "d.jsonl", "parquet": "d.parquet"}
EXPECTED = [
    Item(0, "great flight", "positive"),
    Item(2, "lost my bag", "NA"),
    Item(3, "on time", "1"),
    Item(4, 'multi\nline, "quoted"', "positive"),
]


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.parquet", "parquet"),
        ("dir\\a.Parquet", "parquet"),
        ("a.txt", "csv"),
        ("Tweets", "csv"),
        (None, "csv"),
    ],
)
def test_format_follows_the_extension(name, fmt):
    assert dataset_format(name) == fmt


@pytest.mark.parametrize("fmt", NAMES)
def test_every_format_gives_the_same_items_rows_and_strings(fmt):
    data = as_bytes(fmt)
    assert load_items(data, "text", "label", NAMES[fmt]) == EXPECTED
    summary = summarize(data, "text", "label", NAMES[fmt])
    assert (summary.n_rows, summary.n_items, summary.dropped_rows) == (5, 4, [1])
    assert summary.class_counts == {"1": 1, "NA": 1, "positive": 2}
    header, rows = read_table(data, NAMES[fmt])
    assert header == ["text", "label"] and rows[1] == ["", "negative"] and len(rows) == 5


def test_json_values_keep_the_spelling_of_the_file_and_null_is_missing():
    data = (
        b'{"text": "a", "label": 1}\n\n{"text": "b", "label": 2.5, "extra": true}\n'
        b'{"text": "c", "label": null}\n{"label": "x", "text": "d"}\n'
    )
    header, rows = read_table(data, "d.jsonl")
    assert header == ["text", "label", "extra"]
    assert rows == [["a", "1", ""], ["b", "2.5", "true"], ["c", "", ""], ["d", "x", ""]]
    assert [item.row for item in load_items(data, "text", "label", "d.jsonl")] == [0, 1, 3]


def test_parquet_numbers_and_nulls_become_strings():
    table = pa.table({"text": ["a", "b", "c"], "label": pa.array([1, None, 3], pa.int64())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    assert load_items(buffer.getvalue(), "text", "label", "d.parquet") == [Item(0, "a", "1"), Item(2, "c", "3")]


def test_many_jsonl_lines_and_keys_appearing_late_are_aligned():
    lines = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(70_000)]
    lines.append(json.dumps({"text": "last", "label": "a", "late": "z"}))
    header, rows = read_table("\n".join(lines).encode(), "big.jsonl")
    assert header == ["text", "label", "late"] and len(rows) == 70_001
    assert rows[69_999] == ["t69999", "b", ""] and rows[-1] == ["last", "a", "z"]


@pytest.mark.parametrize(
    "line, message",
    [
        (
            b'{"text": "b", "label": \n',
            r"Line 3 of the JSON Lines file is not valid JSON: Expecting value at column 24",
        ),
        (b'["b", "x"]\n', r"Line 3 of the JSON Lines file holds a JSON list, not an object"),
        (b'{"text": "caf\xe9", "label": "x"}\n', r"Line 3 of the JSON Lines file is not UTF-8 \(byte 0xe9"),
    ],
)
def test_a_broken_jsonl_line_is_named_by_number(line, message):
    data = b'{"text": "a", "label": "x"}\n\n' + line + b'{"text": "c", "label": "y"}\n'
    with pytest.raises(DatasetError, match=message):
        check_table(data, "d.jsonl")


@pytest.mark.parametrize("data", [b"", b"\n \n"])
def test_empty_jsonl_says_what_a_line_looks_like(data):
    with pytest.raises(DatasetError, match=r"empty.*one object per line"):
        check_table(data, "d.jsonl")


def test_not_a_parquet_file():
    with pytest.raises(DatasetError, match="not a Parquet file: it does not start and end with .*PAR1"):
        check_table(as_bytes("csv"), "d.parquet")


def test_corrupt_parquet_is_a_clear_error():
    data = as_bytes("parquet")
    damaged = data[:4] + b"\x00" * (len(data) - 12) + data[-8:]
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        check_table(damaged, "d.parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        check_table(data[: len(data) // 2] + data[-4:], "d.parquet")


def test_a_parquet_or_jsonl_file_named_csv_is_refused():
    with pytest.raises(DatasetError, match="is a Parquet file but its name says CSV.*\\.parquet"):
        check_table(as_bytes("parquet"), "d.csv")
    with pytest.raises(DatasetError, match="holds JSON objects but its name says TSV.*\\.jsonl"):
        check_table(as_bytes("jsonl"), "d.tsv")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_missing_column_lists_the_available_ones_in_every_format(fmt):
    with pytest.raises(DatasetError) as error:
        load_items(as_bytes(fmt, frame().rename(columns={"text": "tweet"})), "text", "label", NAMES[fmt])
    assert "'text'" in str(error.value) and "'tweet'" in str(error.value) and "'label'" in str(error.value)


def test_parquet_column_that_cannot_be_text_is_named():
    table = pa.table({"text": ["a", "b"], "label": pa.array([[1], [2]], pa.list_(pa.int64()))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(DatasetError, match=r"Parquet column 'label' has type list<.*int64>, which cannot be read"):
        load_items(buffer.getvalue(), "text", "label", "d.parquet")


def test_header_only_parquet_has_no_data_rows():
    with pytest.raises(DatasetError, match="no data rows"):
        check_table(as_bytes("parquet", frame().iloc[:0]), "d.parquet")


def test_columnar_items_sample_exactly_like_a_list():
    """read_items keeps items as columns; the split it gives must be the one a list of the same items gives."""
    data = SAMPLE_CSV.read_bytes()
    columns = read_items(data, "text", "airline_sentiment", SAMPLE_CSV.name)
    listed = list(columns)
    assert columns[5] == listed[5] and columns[2:4] == listed[2:4] and len(columns) == len(listed)
    spec = reference_sampling(item.label for item in listed)
    assert split_items(columns, spec) == split_items(listed, spec)
    seeded = random_sampling(["negative", "neutral", "positive"], 20, 10, seed=7)
    assert split_items(columns, seeded) == split_items(listed, seeded)
    with pytest.raises(DatasetError, match="Too few rows of class 'positive'"):
        split_items(columns, SamplingSpec(train_counts={"positive": 1000, "negative": 1}, test_offset=1000))
