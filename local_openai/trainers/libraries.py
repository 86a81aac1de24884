"""First imports of the ML libraries, one thread at a time.

transformers resolves its top-level names lazily (`_LazyModule.__getattr__`), and that is not thread-safe: the job
runner loading MiniLM while a chat request loads SmolLM2 got "ImportError: cannot import name 'AutoModel' from
'transformers'" (seen in `make demo` on a fresh clone, where nothing was imported or byte-compiled yet). peft reaches
into transformers the same way, so every such import goes through this one lock. The first one also sizes torch's
thread pool to the CPUs this process may use (`torch_runtime`), before any model computes.
"""

from __future__ import annotations

import importlib
import threading

from local_openai.trainers.torch_runtime import size_torch_threads

_LOCK = threading.Lock()


def load(module: str, *names: str) -> tuple:
    """`from module import names`, serialised with every other call."""
    with _LOCK:
        size_torch_threads()  # once: it remembers its answer
        imported = importlib.import_module(module)
        return tuple(getattr(imported, name) for name in names)
