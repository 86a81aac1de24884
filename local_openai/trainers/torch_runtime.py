"""Where torch runs: the device (cuda when present, unless LOCAL_OPENAI_DEVICE says otherwise) and how many threads.

torch starts one intra-op thread per core it sees. In a container that is the host's cores: with a CPU quota of 2 on
a 16-core host, 16 threads share 2 CPUs' worth of time, and every matrix product waits for throttled threads. The
CPUs usable are the affinity mask's, capped by the CPU quota of the process's cgroup and of its ancestors (v2 and v1).
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

DEVICE_ENV = "LOCAL_OPENAI_DEVICE"
DEVICES = ("auto", "cpu", "cuda")
log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """CPUs in the affinity mask, capped by the tightest CPU quota (whole CPUs, at least one)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quotas = [quota for directory in _cgroup_dirs(cgroup_root, proc_cgroup) if (quota := _quota(directory))]
    if quotas:
        cpus = min(cpus, max(1, int(min(quotas))))
    return cpus


@cache
def size_torch_threads() -> int:
    """Cap torch's intra-op threads at the usable CPUs, once per process (never raised: OMP_NUM_THREADS=1 stays 1)."""
    import torch

    threads = min(torch.get_num_threads(), available_cpus())
    if threads != torch.get_num_threads():
        log.info("torch threads: %d (was %d) for the CPUs this process may use", threads, torch.get_num_threads())
        torch.set_num_threads(threads)
    return threads


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


def _cgroup_dirs(root: Path, proc_cgroup: Path) -> list[Path]:
    """The process's cgroup directories and their ancestors up to `root`, for each hierarchy listed."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return [root]
    directories: list[Path] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue  # a v1 hierarchy without the cpu controller
        base = root / "cpu" if controllers else root  # v2 has one hierarchy ("0::/path"); v1 mounts cpu under root/cpu
        directory = base / path.strip("/")
        directories += [directory, *(parent for parent in directory.parents if parent.is_relative_to(base))]
    return directories or [root]


def _quota(directory: Path) -> float | None:
    """CPUs' worth of time the cgroup in `directory` may use per period; None without a quota (or no such file)."""
    try:
        quota, period = (directory / "cpu.max").read_text().split()  # v2: "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((directory / "cpu.cfs_quota_us").read_text())  # v1: -1 when unlimited
        return quota_us / int((directory / "cpu.cfs_period_us").read_text()) if quota_us > 0 else None
    except (OSError, ValueError):
        return None
