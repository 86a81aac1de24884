"""Device and thread choice for the torch backends: cores from the affinity mask and the cgroup quota; the device from
LOCAL_OPENAI_DEVICE and what torch sees (no GPU here, so the cuda path is checked only for its refusal)."""

from __future__ import annotations

import os

import pytest
import torch

from local_openai.trainers import torch_runtime
from local_openai.trainers.torch_runtime import available_cores, configure_threads, device


@pytest.fixture(autouse=True)
def fresh_device_choice():
    device.cache_clear()
    yield
    device.cache_clear()


def test_cores_are_the_affinity_mask_without_a_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cores(tmp_path) == len(os.sched_getaffinity(0))


def test_a_cgroup_quota_caps_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # one and a half CPUs: two threads, never zero
    assert available_cores(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("10000 100000\n")
    assert available_cores(tmp_path) == 1


def test_no_cgroup_file_means_the_affinity_mask(tmp_path):
    assert available_cores(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_threads_are_sized_to_the_usable_cores():
    assert configure_threads() == available_cores() == torch.get_num_threads()


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
