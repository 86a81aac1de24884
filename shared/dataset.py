"""Re-exports of `shared.dataset_reading` and `shared.dataset_sampling` for callers not yet moved to them.

Import from those two modules in new code; this module goes once web/, worker/cli.py, shared/records.py,
shared/estimates.py, bench/ and the tests import from them directly.
"""
from __future__ import annotations

from shared.dataset_reading import (
    DETECT_SAMPLE_ROWS,
    LABEL_COLUMN_HINTS,
    MAX_LABEL_CARDINALITY,
    TEXT_COLUMN_HINTS,
    DatasetError,
    DatasetSummary,
    Item,
    ItemColumns,
    check_table,
    class_counts,
    column_index,
    dataset_format,
    decode_csv,
    detect_columns,
    group_by_label,
    items_from_rows,
    load_items,
    read_items,
    read_table,
    summarize,
)
from shared.dataset_sampling import (
    REFERENCE_LABELS,
    REFERENCE_SAMPLE_SIZE,
    REFERENCE_TEST_OFFSET,
    REFERENCE_TRAIN_COUNTS,
    SamplingSpec,
    Split,
    even_counts,
    random_sampling,
    reference_sampling,
    split_items,
)

__all__ = [
    "DETECT_SAMPLE_ROWS", "LABEL_COLUMN_HINTS", "MAX_LABEL_CARDINALITY", "REFERENCE_LABELS", "REFERENCE_SAMPLE_SIZE",
    "REFERENCE_TEST_OFFSET", "REFERENCE_TRAIN_COUNTS", "TEXT_COLUMN_HINTS", "DatasetError", "DatasetSummary", "Item",
    "ItemColumns", "SamplingSpec", "Split", "check_table", "class_counts", "column_index", "dataset_format",
    "decode_csv", "detect_columns", "even_counts", "group_by_label", "items_from_rows", "load_items", "random_sampling",
    "read_items", "read_table", "reference_sampling", "split_items", "summarize",
]
