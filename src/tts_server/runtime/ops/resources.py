"""CPU, memory and GPU use for GET /stats, read cheaply and without importing torch."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    cpu_usage: float  # percent of all cores, since the previous reading
    memory_usage: float  # percent of the machine's memory in use
    process_memory_mb: float  # resident memory of this server process
    gpu_usage: list[float]  # percent busy, per GPU
    gpu_memory: list[float]  # GB in use, per GPU


class ResourceMonitor:
    def __init__(self) -> None:
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first reading only starts the interval

    def read(self) -> ResourceUsage:
        gpu_usage, gpu_memory = _gpu_readings()
        return ResourceUsage(
            cpu_usage=round(psutil.cpu_percent(interval=None), 1),
            memory_usage=round(psutil.virtual_memory().percent, 1),
            process_memory_mb=round(self._process.memory_info().rss / 2**20, 1),
            gpu_usage=gpu_usage,
            gpu_memory=gpu_memory,
        )


def _gpu_readings() -> tuple[list[float], list[float]]:
    """Per-GPU utilisation and memory from torch, when something already imported it (importing torch
    costs seconds, which the built-in engine should not pay), else from NVML when pynvml is installed."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return _from_torch(torch)
        return _from_nvml()
    except Exception as exc:  # a broken driver reads as "no GPU", never as a failed /stats
        log.debug("GPU readings unavailable: %s", exc)
        return [], []


def _from_torch(torch: ModuleType) -> tuple[list[float], list[float]]:
    usage: list[float] = []
    memory: list[float] = []
    for index in range(torch.cuda.device_count()):
        try:
            usage.append(float(torch.cuda.utilization(index)))  # needs NVML underneath
        except Exception:
            usage.append(0.0)
        # What this process holds; mem_get_info would create a CUDA context on every device it asks.
        memory.append(round(torch.cuda.memory_reserved(index) / 1e9, 2))
    return usage, memory


def _from_nvml() -> tuple[list[float], list[float]]:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return [], []
    nvml: Any = pynvml
    nvml.nvmlInit()
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(index) for index in range(nvml.nvmlDeviceGetCount())]
        usage = [float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu) for handle in handles]
        memory = [round(nvml.nvmlDeviceGetMemoryInfo(handle).used / 1e9, 2) for handle in handles]
        return usage, memory
    finally:
        nvml.nvmlShutdown()
