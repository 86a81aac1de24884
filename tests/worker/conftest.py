"""Fixtures for the worker tests (the stack itself comes from tests/conftest.py)."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
def provider(tq_stack):
    """The official SDK client on the session's local_openai (for checking what the pipeline did there)."""
    return openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
