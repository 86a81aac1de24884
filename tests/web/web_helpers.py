"""Helpers for the Flask test-client tests: what a browser would do with the forms."""

from __future__ import annotations

import io
import re
import socket

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/experiments/new") -> str:
    """The CSRF token a browser would find in the form on `path`."""
    page = client.get(path)
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def upload(client, data: bytes, name: str = "tweets.csv"):
    """Submit the upload form with `data` as the chosen file."""
    return client.post(
        "/datasets",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def uploaded_sha256(response) -> str:
    """The dataset hash from the redirect that follows a successful upload."""
    return response.headers["Location"].split("dataset=")[1]


def free_port_url() -> str:
    """A redis:// URL where nothing listens (a port just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
