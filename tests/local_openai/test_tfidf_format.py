"""local-tfidf models are stored as JSON + .npz (nothing that runs code when loaded); old pickles are refused."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
import openai
import pytest
from local_server import fine_tune, labelled_texts


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_the_model_directory_holds_no_pickle(start_server):
    server = start_server()
    client = server.client()
    items = labelled_texts(4, seed=1)
    job = fine_tune(client, "local-tfidf", items)
    files = sorted(p.name for p in (server.data_dir / "models" / job.id / "final").iterdir())
    assert not [name for name in files if name.endswith((".pkl", ".pickle", ".joblib"))], files
    for path in (server.data_dir / "models" / job.id / "final").glob("*.npz"):
        with np.load(path, allow_pickle=False) as arrays:
            assert all(arrays[name].dtype != object for name in arrays.files)
    answers = [
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": text}])
        .choices[0]
        .message.content
        for text, _ in items
    ]
    assert answers == [label for _, label in items]  # what it learned survives the round trip through the files


def test_an_old_pickled_model_is_refused_without_being_unpickled(start_server, tmp_path):
    server = start_server()
    client = server.client()
    job = fine_tune(client, "local-tfidf", labelled_texts(4, seed=1))
    model_dir = server.data_dir / "models" / job.id / "final"
    for path in model_dir.iterdir():
        path.unlink()
    marker = tmp_path / "pickle-ran"
    (model_dir / "tfidf.pkl").write_bytes(pickle.dumps(_RunsCodeWhenUnpickled(marker)))  # as older versions stored it
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.param == "model" and "pickle" in caught.value.message
    assert "fine-tun" in caught.value.message  # says how to fix: train it again
    assert not marker.exists()
