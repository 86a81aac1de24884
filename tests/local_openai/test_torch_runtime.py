"""Device and thread choice for the torch backends: the CPUs usable are the affinity mask's, capped by the tightest
quota of the process's cgroup and its ancestors (fake cgroup v2 and v1 trees); the device comes from
LOCAL_OPENAI_DEVICE and what torch sees (no GPU here, so the cuda path is checked only for its refusal)."""

from __future__ import annotations

import os

import pytest
import torch

from local_openai.trainers import torch_runtime
from local_openai.trainers.torch_runtime import available_cpus, device, size_torch_threads


@pytest.fixture(autouse=True)
def fresh_device_choice():
    device.cache_clear()
    yield
    device.cache_clear()


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


def test_threads_are_capped_at_the_usable_cpus():
    assert size_torch_threads() == torch.get_num_threads() <= available_cpus()


@pytest.mark.parametrize("value", ["", "auto", "cpu", "CPU"])
def test_without_a_gpu_every_setting_but_cuda_runs_on_the_cpu(monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(torch_runtime.DEVICE_ENV, value)
    assert device() == "cpu"


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(torch_runtime.DEVICE_ENV, "cuda")
    with pytest.raises(ValueError, match="sees no GPU"):
        device()


def test_auto_picks_cuda_when_torch_sees_a_gpu_and_cpu_keeps_the_cpu(monkeypatch):
    """torch.cuda.is_available is faked: this machine has no GPU (the bench reports the GPU path where there is one)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(torch_runtime.DEVICE_ENV, "auto")
    assert device() == "cuda"
    device.cache_clear()
    monkeypatch.setenv(torch_runtime.DEVICE_ENV, "cpu")
    assert device() == "cpu"


def test_an_unknown_device_names_the_choices(monkeypatch):
    monkeypatch.setenv(torch_runtime.DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        device()
