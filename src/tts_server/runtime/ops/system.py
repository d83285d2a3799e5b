"""Facts about the machine, read cheaply: GPUs are counted without importing torch."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

_NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True, slots=True)
class GpuInfo:
    count: int

    @property
    def available(self) -> bool:
        return self.count > 0


def detect_gpus() -> GpuInfo:
    """Counts NVIDIA GPUs. Uses torch only when something already imported it (importing torch
    costs seconds and hundreds of MB, which the built-in engine should not pay)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return GpuInfo(count=int(torch.cuda.device_count()))
        except Exception:  # a broken CUDA setup reads as no GPU, not as a failed health check
            return GpuInfo(count=0)
    if _NVIDIA_PROC.is_dir():
        return GpuInfo(count=sum(1 for _ in _NVIDIA_PROC.iterdir()))
    return GpuInfo(count=0)


def format_duration(seconds: float) -> str:
    """'2h 45m 12s', as the Dia server's /health shows uptime."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
