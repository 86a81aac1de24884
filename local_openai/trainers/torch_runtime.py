"""Where torch runs: the device (cuda when present, unless LOCAL_OPENAI_DEVICE says otherwise) and how many threads.

On CPU, torch's default thread count is the machine's cores, which oversubscribes a container limited by a cgroup
CPU quota or an affinity mask; `configure_threads` sizes it to the cores this process may actually use.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path

DEVICE_ENV = "LOCAL_OPENAI_DEVICE"
DEVICES = ("auto", "cpu", "cuda")


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 `cpu.max` quota when one is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


@cache
def device() -> str:
    """ "cuda" when torch sees a GPU and LOCAL_OPENAI_DEVICE is auto (the default) or cuda; "cpu" otherwise.
    Raises when cuda is asked for and absent, rather than training for hours on the CPU by surprise."""
    import torch

    wanted = os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"
    if wanted not in DEVICES:
        raise ValueError(f"{DEVICE_ENV}={wanted!r}; use one of {', '.join(DEVICES)}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{DEVICE_ENV}=cuda but torch sees no GPU; unset it or set it to auto or cpu")
    return "cuda" if wanted != "cpu" and torch.cuda.is_available() else "cpu"


@cache
def configure_threads() -> int:
    """Size torch's intra-op threads to the usable cores (once per process); returns the count."""
    import torch

    threads = available_cores()
    torch.set_num_threads(threads)
    return threads
