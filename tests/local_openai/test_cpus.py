"""local_openai/trainers/cpus.py on fake cgroup trees: the CPUs usable are the affinity mask's, capped by the
tightest quota of the process's cgroup and its ancestors, in cgroup v2 and v1 layouts."""

from __future__ import annotations

import os

from local_openai.trainers.cpus import available_cpus

AFFINITY = len(os.sched_getaffinity(0))


def _tree(root, files: dict[str, str]):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_no_quota_leaves_the_affinity_mask(tmp_path):
    _tree(tmp_path, {"proc": "0::/app\n", "fs/app/cpu.max": "max 100000\n"})
    assert available_cpus(tmp_path / "fs", tmp_path / "proc") == AFFINITY


def test_a_v2_quota_on_an_ancestor_caps_the_cpus(tmp_path):
    _tree(
        tmp_path,
        {"proc": "0::/pod/app\n", "fs/pod/cpu.max": "150000 100000\n", "fs/pod/app/cpu.max": "max 100000\n"},
    )
    assert available_cpus(tmp_path / "fs", tmp_path / "proc") == 1  # 1.5 CPUs of time: one whole CPU


def test_a_v1_cpu_quota_caps_the_cpus(tmp_path):
    _tree(
        tmp_path,
        {
            "proc": "5:memory:/x\n4:cpu,cpuacct:/docker/abc\n",
            "fs/cpu/docker/abc/cpu.cfs_quota_us": "100000\n",
            "fs/cpu/docker/abc/cpu.cfs_period_us": "100000\n",
            "fs/cpu/docker/cpu.cfs_quota_us": "-1\n",
            "fs/cpu/docker/cpu.cfs_period_us": "100000\n",
        },
    )
    assert available_cpus(tmp_path / "fs", tmp_path / "proc") == 1


def test_unreadable_cgroups_leave_the_affinity_mask(tmp_path):
    assert available_cpus(tmp_path / "none", tmp_path / "missing") == AFFINITY
