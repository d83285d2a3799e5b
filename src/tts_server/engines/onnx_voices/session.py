"""onnxruntime sessions for the ONNX voices: one per model per worker, with a set number of threads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tts_server.engines.base import EngineLoadError

if TYPE_CHECKING:
    import onnxruntime

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}
_CHECKSUM_BLOCK = 4 * 2**20


@dataclass(frozen=True, slots=True)
class GraphInput:
    name: str
    dtype: type[np.generic]


def resolve_device(choice: str) -> str:
    """ "cuda" when asked for (or auto) and this onnxruntime build has CUDA; otherwise "cpu"."""
    if choice not in ("auto", "cuda"):
        return "cpu"
    import onnxruntime

    return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"


def open_session(path: Path, *, threads: int, device: str = "cpu") -> onnxruntime.InferenceSession:
    """A session on `path` using `threads` intra-op threads (one worker process runs one request at a time,
    so inter-op parallelism would only compete with the other workers); on CUDA when `device` says so."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    # Idle intra-op threads sleep instead of spinning: each worker may use every core, and a spinning worker
    # would burn the cores another worker is speaking on (bench/cpu_voices.md, "Threads per worker").
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise EngineLoadError(f"onnxruntime could not load {path}: {exc}") from exc


def graph_inputs(session: onnxruntime.InferenceSession) -> dict[str, GraphInput]:
    """The session's inputs by name, with the numpy type each takes (exports differ in both)."""
    inputs = {}
    for item in session.get_inputs():
        inputs[item.name] = GraphInput(item.name, _NUMPY_TYPES.get(item.type, np.float32))
    return inputs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHECKSUM_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, *, how_to_fix: str) -> None:
    """Refuse a model file whose content is not the one pinned (a partial copy, a swapped file)."""
    found = sha256_of(path)
    if found != expected:
        raise EngineLoadError(f"{path} is not the expected file (sha256 {found}, expected {expected}). {how_to_fix}")
