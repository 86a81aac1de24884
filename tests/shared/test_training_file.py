"""The training JSONL the upload step writes: one example per item, or two when the preset trains on both phrasings;
the pre-launch estimate counts the same examples."""

from __future__ import annotations

import json

from shared.dataset_reading import Item
from shared.dataset_sampling import Split
from shared.estimates import prelaunch_report
from shared.jsonl import validate_chat_jsonl
from shared.prompts import PRESETS
from shared.upload import chat_file

ITEMS = [Item(row=i, text=f"tweet {i}", label=label) for i, label in enumerate(["positive", "negative", "neutral"] * 4)]


def test_both_phrasings_doubles_the_examples_and_each_ends_with_the_items_label():
    data = chat_file(ITEMS, PRESETS["both-phrasings"])
    assert validate_chat_jsonl(data).n_examples == 2 * len(ITEMS)
    examples = [json.loads(line)["messages"] for line in data.decode().splitlines()]
    for item, (training, asked) in zip(ITEMS, zip(examples[::2], examples[1::2], strict=True), strict=True):
        assert training[-1] == asked[-1] == {"role": "assistant", "content": item.label}
        assert training[-2]["content"] == item.text
        assert asked[-2]["content"].endswith(f"tweet: {item.text}")


def test_the_estimate_counts_the_examples_the_file_will_hold():
    split = Split(train=ITEMS, test=ITEMS[:3], labels=["negative", "neutral", "positive"])
    one = prelaunch_report(split, PRESETS["reference"], ["gpt-4o-mini-2024-07-18"], [], 1)
    two = prelaunch_report(split, PRESETS["both-phrasings"], ["gpt-4o-mini-2024-07-18"], [], 1)
    assert (one.n_examples, two.n_examples) == (len(ITEMS), 2 * len(ITEMS))
    assert two.models[0].training_tokens > one.models[0].training_tokens
