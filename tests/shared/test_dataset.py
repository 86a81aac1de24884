import csv
import io
from pathlib import Path

import pytest

from shared.dataset_reading import DatasetError, Item, class_counts, detect_columns, load_items, read_table, summarize
from shared.dataset_sampling import SamplingSpec, random_sampling, reference_sampling, split_items

ROOT = Path(__file__).resolve().parents[2]
TWEETS_CSV = ROOT.parent / "shared" / "data" / "Tweets.csv"
SAMPLE_CSV = ROOT / "shared" / "sample_data" / "airline_tweets_sample.csv"


def make_csv(rows, header=("text", "label"), newline="\n") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def labelled(counts: dict[str, int]) -> bytes:
    """Rows interleaved by class: a0 b0 c0 a1 b1 ... so per-class order differs from file order."""
    rows = []
    for i in range(max(counts.values())):
        for label, count in counts.items():
            if i < count:
                rows.append((f"{label} text {i}", label))
    return make_csv(rows)


def test_read_table_handles_bom_crlf_and_quoted_newlines():
    data = b'\xef\xbb\xbftext,label\r\n"first line\r\nsecond line",a\r\nplain,b\r\n\r\n'
    header, rows = read_table(data)
    assert header == ["text", "label"]
    assert rows == [["first line\r\nsecond line", "a"], ["plain", "b"]]


def test_row_numbers_count_data_rows_not_lines():
    data = make_csv([("multi\nline", "a"), ("", "b"), ("third", "b"), ("fourth", " ")])
    items = load_items(data, "text", "label")
    assert items == [Item(0, "multi\nline", "a"), Item(2, "third", "b")]
    summary = summarize(data, "text", "label")
    assert (summary.n_rows, summary.n_items, summary.dropped_rows) == (4, 2, [1, 3])


def test_labels_are_stripped_and_texts_kept_verbatim():
    items = load_items(make_csv([(" hi there ", " pos ")]), "text", "label")
    assert items == [Item(0, " hi there ", "pos")]


def test_short_rows_count_as_missing_values():
    data = b"label,text\na,hello\nb\n"
    assert load_items(data, "text", "label") == [Item(0, "hello", "a")]


def test_semicolon_and_tab_separated_files_are_read():
    assert read_table(b"text;label\nx;a\n")[1] == [["x", "a"]]
    assert read_table(b"text\tlabel\nx\ta\n")[1] == [["x", "a"]]


def test_stray_quotes_inside_fields_are_kept():
    rows = read_table(b'text,label\nmy 5" screen,a\n"quoted"tail,b\n')[1]
    assert rows == [['my 5" screen', "a"], ["quotedtail", "b"]]


def test_unclosed_quote_is_an_error_naming_the_line():
    with pytest.raises(DatasetError, match="starting on line 3 is never closed"):
        read_table(b'text,label\nfine,a\n"open,b\nmore,c\n')


def test_oversized_field_is_a_clear_error():
    with pytest.raises(DatasetError, match="not a readable CSV"):
        read_table(b"text,label\n" + b"x" * (csv.field_size_limit() + 10) + b",a\n")


def test_missing_column_lists_available_columns():
    with pytest.raises(DatasetError) as error:
        load_items(make_csv([("x", "a")], header=("tweet", "sentiment")), "text", "sentiment")
    message = str(error.value)
    assert "'text'" in message and "'tweet'" in message and "'sentiment'" in message


def test_same_column_for_text_and_label_is_refused():
    with pytest.raises(DatasetError, match="both"):
        load_items(make_csv([("x", "a")]), "text", "text")


def test_non_utf8_names_offset_and_fix():
    data = "text,label\ncaf\u00e9,a\n".encode("latin-1")
    with pytest.raises(DatasetError) as error:
        read_table(data)
    message = str(error.value)
    assert "not UTF-8" in message
    assert f"byte offset {data.index(0xE9)}" in message
    assert "line 2" in message
    assert "iconv -f latin1 -t utf-8" in message


def test_non_utf8_offset_counts_the_bom():
    data = b"\xef\xbb\xbftext,label\n\xff,a\n"
    with pytest.raises(DatasetError, match=f"byte offset {data.index(0xFF)} "):
        read_table(data)


@pytest.mark.parametrize("data", [b"", b"  \n\r\n", b"\xef\xbb\xbf"])
def test_empty_file(data):
    with pytest.raises(DatasetError, match="empty"):
        read_table(data)


def test_header_only_file():
    with pytest.raises(DatasetError, match="no data rows"):
        read_table(b"text,label\n")


def test_all_rows_blank_is_an_error():
    with pytest.raises(DatasetError, match="No row"):
        load_items(make_csv([("", "a"), ("x", "")]), "text", "label")


def test_class_counts_sorted():
    items = [Item(0, "x", "b"), Item(1, "y", "a"), Item(2, "z", "b")]
    assert class_counts(items) == {"a": 1, "b": 2}


def test_one_class_is_a_clear_error():
    items = load_items(labelled({"only": 5}), "text", "label")
    with pytest.raises(DatasetError, match="only the class 'only'.*at least two"):
        reference_sampling(class_counts(items))
    spec = SamplingSpec(train_counts={"only": 1, "other": 1}, test_counts={"only": 1, "other": 1}, test_offset=2)
    with pytest.raises(DatasetError, match="at least two"):
        split_items(items, spec)


def test_reference_sampling_for_the_reference_labels():
    spec = reference_sampling(["positive", "negative", "neutral", "neutral"])
    assert list(spec.train_counts.items()) == [("neutral", 34), ("positive", 33), ("negative", 33)]
    assert spec.test_counts == spec.train_counts
    assert (spec.mode, spec.train_offset, spec.test_offset, spec.seed) == ("balanced", 0, 100, None)


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["b", "a"], {"a": 50, "b": 50}),
        (["x", "y", "z"], {"x": 34, "y": 33, "z": 33}),
        (["neutral", "positive", "negative", "mixed"], {"mixed": 25, "negative": 25, "neutral": 25, "positive": 25}),
    ],
)
def test_reference_sampling_for_other_labels_splits_100_evenly(labels, expected):
    spec = reference_sampling(labels)
    assert spec.train_counts == expected == spec.test_counts
    assert sum(spec.train_counts.values()) == 100


def test_balanced_split_takes_each_class_in_file_order_from_the_offsets():
    items = load_items(labelled({"a": 6, "b": 6, "c": 6}), "text", "label")
    spec = SamplingSpec(train_counts={"b": 2, "a": 1}, train_offset=0, test_counts={"b": 2, "a": 2}, test_offset=3)
    split = split_items(items, spec)
    # rows are a0=0 b0=1 c0=2 a1=3 b1=4 ...: class k's i-th item is row 3*i + k
    assert [item.row for item in split.train] == [1, 4, 0]
    assert [item.row for item in split.test] == [10, 13, 9, 12]
    assert split.labels == ["a", "b"]
    assert split.to_dict()["train_counts"] == {"a": 1, "b": 2}


def test_too_few_rows_names_the_class_and_numbers():
    items = load_items(labelled({"a": 10, "b": 4}), "text", "label")
    spec = SamplingSpec(train_counts={"a": 2, "b": 2}, test_counts={"a": 2, "b": 2}, test_offset=3)
    with pytest.raises(DatasetError) as error:
        split_items(items, spec)
    message = str(error.value)
    assert "'b'" in message and "needs 2 from position 3" in message and "only 4" in message


def test_unknown_label_in_spec_lists_the_classes():
    items = load_items(labelled({"a": 3, "b": 3}), "text", "label")
    spec = SamplingSpec(train_counts={"a": 1, "z": 1}, test_counts={"a": 1, "b": 1}, test_offset=1)
    with pytest.raises(DatasetError, match="'z'.*Classes present: 'a', 'b'"):
        split_items(items, spec)


def test_train_needs_two_classes_with_items_and_test_needs_one_item():
    items = load_items(labelled({"a": 10, "b": 10}), "text", "label")
    with pytest.raises(DatasetError, match="train sample has items of 1 class"):
        split_items(items, SamplingSpec(train_counts={"a": 3, "b": 0}, test_counts={"a": 2, "b": 2}, test_offset=5))
    with pytest.raises(DatasetError, match="test sample is empty"):
        split_items(items, SamplingSpec(train_counts={"a": 3, "b": 3}, test_counts={"a": 0}, test_offset=5))
    with pytest.raises(DatasetError, match="whole number"):
        split_items(items, SamplingSpec(train_counts={"a": "3", "b": 3}, test_counts={"a": 1}, test_offset=5))


def test_overlapping_train_and_test_is_refused():
    items = load_items(labelled({"a": 10, "b": 10}), "text", "label")
    spec = SamplingSpec(train_counts={"a": 4, "b": 4}, test_counts={"a": 4, "b": 4}, test_offset=2)
    with pytest.raises(DatasetError, match="share 4 row"):
        split_items(items, spec)


def test_random_sampling_is_seeded_stratified_and_disjoint():
    items = load_items(labelled({"a": 30, "b": 30, "c": 30}), "text", "label")
    spec = random_sampling(class_counts(items), train_per_class=5, test_per_class=4, seed=7)
    first, second = split_items(items, spec), split_items(items, spec)
    assert first == second
    assert class_counts(first.train) == {"a": 5, "b": 5, "c": 5}
    assert class_counts(first.test) == {"a": 4, "b": 4, "c": 4}
    assert not {i.row for i in first.train} & {i.row for i in first.test}
    other = split_items(items, random_sampling(class_counts(items), 5, 4, seed=8))
    assert other.train != first.train
    assert [i.row for i in first.train] != list(range(15))


def test_random_sampling_draws_and_records_a_seed():
    assert isinstance(random_sampling(["a", "b"], 1, 1).seed, int)


def test_random_sampling_too_few_rows():
    items = load_items(labelled({"a": 3, "b": 30}), "text", "label")
    with pytest.raises(DatasetError, match="'a'.*only 3"):
        split_items(items, random_sampling(["a", "b"], 2, 2, seed=1))


def test_sampling_spec_round_trips_through_a_dict():
    spec = random_sampling(["a", "b"], 3, 2, seed=5)
    assert SamplingSpec.from_dict(spec.to_dict()) == spec


def test_detect_columns_prefers_long_text_and_low_cardinality_label():
    rows = [
        [str(i), "pos" if i % 2 else "neg", f"a rather long piece of text number {i}", "x" * (i % 3)] for i in range(20)
    ]
    assert detect_columns(["id", "y", "body", "noise"], rows) == ("body", "y")


def test_detect_columns_on_empty_rows():
    assert detect_columns(["a", "b"], []) == (None, None)


def reference_rows_by_hand(path):
    """The reference script's selection recomputed with the csv module: per class, rows [n, n+count)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [
            (number, row)
            for number, row in enumerate(reader)
            if row["text"].strip() and row["airline_sentiment"].strip()
        ]
    result = {}
    for name, offset in (("train", 0), ("test", 100)):
        chosen = []
        for label, count in (("neutral", 34), ("positive", 33), ("negative", 33)):
            of_class = [number for number, row in rows if row["airline_sentiment"] == label]
            chosen += of_class[offset : offset + count]
        result[name] = chosen
    return result


@pytest.mark.skipif(not TWEETS_CSV.exists(), reason=f"{TWEETS_CSV} is not present")
def test_reference_split_on_tweets_csv():
    data = TWEETS_CSV.read_bytes()
    header, rows = read_table(data)
    assert detect_columns(header, rows) == ("text", "airline_sentiment")
    items = load_items(data, "text", "airline_sentiment")
    split = split_items(items, reference_sampling(class_counts(items)))
    assert class_counts(split.train) == {"negative": 33, "neutral": 34, "positive": 33}
    assert class_counts(split.test) == {"negative": 33, "neutral": 34, "positive": 33}
    expected = reference_rows_by_hand(TWEETS_CSV)
    assert [item.row for item in split.train] == expected["train"]
    assert [item.row for item in split.test] == expected["test"]
    assert split.train[0] == Item(0, "@VirginAmerica What @dhepburn said.", "neutral")


def test_sample_csv_gives_the_same_reference_split_as_the_full_file():
    items = load_items(SAMPLE_CSV.read_bytes(), "text", "airline_sentiment")
    counts = class_counts(items)
    assert counts["neutral"] >= 134 and counts["positive"] >= 133 and counts["negative"] >= 133
    split = split_items(items, reference_sampling(counts))
    expected = reference_rows_by_hand(SAMPLE_CSV)
    assert [item.row for item in split.train] == expected["train"]
    assert [item.row for item in split.test] == expected["test"]
    if TWEETS_CSV.exists():
        assert TWEETS_CSV.read_bytes().startswith(SAMPLE_CSV.read_bytes())
        full = load_items(TWEETS_CSV.read_bytes(), "text", "airline_sentiment")
        assert split_items(full, reference_sampling(class_counts(full))) == split
