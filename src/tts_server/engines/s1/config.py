"""The DualAR model's shape, read from a checkpoint's config.json with the reference's defaults.

config.json names the fields of fish-speech's `DualARModelArgs`; fields it leaves out take the same defaults
(and the same derived values: KV heads default to the head count, the fast transformer to the slow one's).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_server.engines.base import EngineLoadError

log = logging.getLogger(__name__)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True, slots=True)
class TransformerShape:
    """One stack of transformer blocks (the slow or the fast one)."""

    dim: int
    n_head: int
    n_local_heads: int
    head_dim: int
    intermediate_size: int
    qkv_bias: bool
    o_bias: bool
    qk_norm: bool
    norm_eps: float
    rope_base: float


@dataclass(frozen=True, slots=True)
class S1ModelConfig:
    """Fields as named in config.json (model_type "dual_ar")."""

    vocab_size: int = 32000
    n_layer: int = 32
    n_head: int = 32
    dim: int = 4096
    intermediate_size: int | None = None
    n_local_heads: int = -1
    head_dim: int | None = 64
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    max_seq_len: int = 2048
    tie_word_embeddings: bool = True
    attention_qkv_bias: bool = False
    attention_o_bias: bool = False
    attention_qk_norm: bool = False
    codebook_size: int = 160
    num_codebooks: int = 4
    scale_codebook_embeddings: bool = False
    n_fast_layer: int = 4
    fast_dim: int | None = None
    fast_n_head: int | None = None
    fast_n_local_heads: int | None = None
    fast_head_dim: int | None = None
    fast_intermediate_size: int | None = None
    fast_attention_qkv_bias: bool | None = None
    fast_attention_qk_norm: bool | None = None
    fast_attention_o_bias: bool | None = None

    @classmethod
    def from_file(cls, path: Path) -> S1ModelConfig:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngineLoadError(f"The S1 model config {path} could not be read: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> S1ModelConfig:
        if data.get("model_type") != "dual_ar":
            raise EngineLoadError(f"{source}: model_type is {data.get('model_type')!r}; S1-mini is 'dual_ar'.")
        known = {item.name for item in dataclasses.fields(cls)}
        ignored = sorted(set(data) - known - {"model_type"})
        if ignored:
            log.debug("S1 config fields not used for inference: %s", ", ".join(ignored))
        return cls(**{key: value for key, value in data.items() if key in known})

    @property
    def slow(self) -> TransformerShape:
        kv_heads = self.n_head if self.n_local_heads == -1 else self.n_local_heads
        ffn = self.intermediate_size or _round_up(int(2 * 4 * self.dim / 3), 256)
        return TransformerShape(
            dim=self.dim,
            n_head=self.n_head,
            n_local_heads=kv_heads,
            head_dim=self.head_dim or self.dim // self.n_head,
            intermediate_size=ffn,
            qkv_bias=self.attention_qkv_bias,
            o_bias=self.attention_o_bias,
            qk_norm=self.attention_qk_norm,
            norm_eps=self.norm_eps,
            rope_base=self.rope_base,
        )

    @property
    def fast(self) -> TransformerShape:
        slow = self.slow

        def pick(value: Any, fallback: Any) -> Any:
            return fallback if value is None else value

        return TransformerShape(
            dim=self.fast_dim or slow.dim,
            n_head=self.fast_n_head or slow.n_head,
            n_local_heads=self.fast_n_local_heads or slow.n_local_heads,
            head_dim=self.fast_head_dim or slow.head_dim,
            intermediate_size=self.fast_intermediate_size or slow.intermediate_size,
            qkv_bias=pick(self.fast_attention_qkv_bias, slow.qkv_bias),
            o_bias=pick(self.fast_attention_o_bias, slow.o_bias),
            qk_norm=pick(self.fast_attention_qk_norm, slow.qk_norm),
            norm_eps=self.norm_eps,
            rope_base=self.rope_base,
        )
