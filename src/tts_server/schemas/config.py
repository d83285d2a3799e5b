"""Wire models of GET/PUT /config: the Dia server's runtime keys plus the rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, field_validator

WHISPER_SIZES = frozenset(
    {
        "tiny",
        "tiny.en",
        "base",
        "base.en",
        "small",
        "small.en",
        "medium",
        "medium.en",
        "large",
        "large-v1",
        "large-v2",
        "large-v3",
        "large-v3-turbo",
        "turbo",
    }
)


class ServerConfig(BaseModel):
    """The server's runtime configuration. PUT any subset of these keys; unknown keys or values of the
    wrong type are refused (400) and nothing changes. Strict: `true` is a boolean, "true" is not."""

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True)

    debug_mode: bool = Field(description="Verbose (debug) logging of the server. Live.")
    save_outputs: bool = Field(
        description="Keep job results under outputs/ until retention removes them; false deletes a result "
        "once it has been downloaded. Live."
    )
    show_prompts: bool = Field(description="Log the text of each job. Live.")
    output_retention_hours: float = Field(
        ge=0, le=24 * 365, description="Finished jobs and their results are deleted after this many hours. Live."
    )
    auto_discover_prompts: bool = Field(description="Scan audio_prompts/ for new files at start-up. Next start.")
    auto_transcribe: bool = Field(description="Transcribe uploads that come without a transcript. Live.")
    whisper_model_size: str = Field(
        description="Whisper size (tiny, base, small, medium, large-v3, turbo, ...) or a checkpoint file. "
        "Applies at the next POST /whisper/load or restart."
    )
    gpu_mode: Literal["auto", "cpu", "cuda"] = Field(description="Device for neural engines. Restart.")
    worker_count: int = Field(ge=1, le=64, description="Built-in engine worker processes. Restart.")
    torch_compile_enabled: bool = Field(description="torch.compile the Dia decoder at start-up. Restart.")
    rate_limit_enabled: bool = Field(description="Per-client-IP rate limits. Live.")
    rate_limit_generate: str = Field(description="Generation requests per client IP, e.g. '10/minute'. Live.")
    rate_limit_upload: str = Field(description="Uploads per client IP, e.g. '5/minute'. Live.")
    rate_limit_jobs: str = Field(description="Job queries per client IP, e.g. '100/minute'. Live.")

    @field_validator("whisper_model_size")
    @classmethod
    def _whisper_model(cls, value: str) -> str:
        if value in WHISPER_SIZES or (value.endswith(".pt") and Path(value).expanduser().is_file()):
            return value
        sizes = ", ".join(sorted(WHISPER_SIZES))
        raise ValueError(f"must be one of {sizes}, or the path of an existing .pt checkpoint")

    @field_validator("rate_limit_generate", "rate_limit_upload", "rate_limit_jobs")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError("must be one limit such as '10/minute', '5/second' or '100 per hour'")
        return value


class ConfigUpdateResponse(BaseModel):
    message: str
    updated: list[str] = Field(description="Keys whose value changed.")
    restart_required: list[str] = Field(
        description="Changed keys that take effect only when the server restarts (they are saved already)."
    )
    config: ServerConfig
