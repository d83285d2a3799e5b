"""The decoding step under torch.compile: a few static shapes, and CUDA graphs on CUDA.

A CUDA graph replays fixed kernels on fixed memory, so the compiled step sees one shape per *batch bucket*:
the batch is padded with idle rows up to the next bucket (1, 2, 4, ... up to TTS_DIA_MAX_BATCH), attention runs
over the whole window and the longest text (the masks hide what a row has not written), and the KV caches are
allocated once at full size, at fixed addresses. torch.compile traces the step once with dynamic shapes;
CUDA graphs are recorded per bucket (at warm-up, `DiaEngine.warm_up`). On CPU the same compiled step runs
without graphs (the tests check it gives the eager step's codes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import torch

StepFn = TypeVar("StepFn", bound=Callable[..., torch.Tensor])


def batch_buckets(max_requests: int) -> list[int]:
    """Powers of two below `max_requests`, and `max_requests` itself."""
    buckets, size = [], 1
    while size < max_requests:
        buckets.append(size)
        size *= 2
    return [*buckets, max_requests]


def bucket_for(requests: int, buckets: list[int]) -> int:
    """The smallest bucket that holds `requests`."""
    for bucket in buckets:
        if bucket >= requests:
            return bucket
    raise ValueError(f"{requests} requests do not fit the largest batch bucket ({buckets[-1]})")


def compile_step(step: StepFn, device: torch.device) -> StepFn:
    """`step` compiled: "reduce-overhead" (CUDA graphs) on CUDA, inductor's default elsewhere."""
    mode = "reduce-overhead" if device.type == "cuda" else None
    return cast(StepFn, torch.compile(step, dynamic=True, mode=mode))


def keep_addresses(tensors: Iterable[torch.Tensor], device: torch.device) -> None:
    """Tell torch.compile these tensors never move, so CUDA graphs may update them in place (the KV caches)."""
    if device.type == "cuda":
        for tensor in tensors:
            torch._dynamo.mark_static_address(tensor)


def begin_step(device: torch.device) -> None:
    """A new decoding step: the previous step's graph outputs have been consumed."""
    if device.type == "cuda":
        mark: Any = torch.compiler.cudagraph_mark_step_begin
        mark()
