"""Every setting of the server: one pydantic-settings model, read from TTS_* variables and `.env`.

The model is flat on purpose: the env names users type (TTS_DIA_MODEL, TTS_WHISPER_MODEL) map one to
one onto fields, with no double-underscore nesting to remember. Sections are grouped by comments.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Provider(StrEnum):
    """Which speech engine serves requests."""

    AUTO = "auto"
    ESPEAK = "espeak"
    DIA = "dia"
    PIPER = "piper"
    KOKORO = "kokoro"
    S1_MINI = "s1-mini"


class DeviceChoice(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


# Every engine id this server family knows, in the default order of preference (TTS_ENGINE_PREFERENCE).
ENGINE_IDS = ("s1-mini", "dia", "kokoro", "piper", "espeak")


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Server settings. Every field maps to the env variable TTS_<FIELD NAME IN CAPITALS>."""

    model_config = SettingsConfigDict(
        env_prefix="TTS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- network and access -------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port the server listens on.")
    api_key: str | None = Field(
        None,
        description="When set, every route but /health and the docs needs 'Authorization: Bearer <key>' "
        "or 'X-API-Key'. Unset: any bearer token is accepted.",
    )
    cors_origins: str = Field("*", description="Comma-separated origins allowed by CORS ('*' for any).")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Log level of the server and uvicorn."
    )
    opentelemetry: bool = Field(
        False,
        description="FastAPI's own OpenTelemetry traces, metrics and logs, for an OpenTelemetry provider you "
        "configure. Off: /metrics (Prometheus) only, and no per-request check for a provider.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated proxy IPs or networks (10.0.0.0/8) whose X-Forwarded-For header is trusted "
        "for rate limiting. Empty: the connection's address is the client.",
    )

    wyoming_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of the Wyoming server for Home Assistant (customarily 10200), listening on TTS_HOST with "
        "the same engines and voices; no API key applies to it. Unset: off.",
    )

    # --- storage --------------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("."),
        description="Holds voices/, audio_prompts/, outputs/ and the database tts_server.db.",
    )

    # --- engines --------------------------------------------------------------------------------
    provider: Provider = Field(
        Provider.AUTO,
        description="Default speech engine: auto (every engine whose files are found locally runs; the first of "
        "engine_preference is the default), or s1-mini, dia, kokoro, piper, espeak (that engine, with espeak "
        "beside it).",
    )
    engine_preference: str = Field(
        ",".join(ENGINE_IDS),
        description="Comma-separated engine ids, most preferred first: in auto mode the first that loads is the "
        "default and the next loaded one stands in when it fails. Engines left out are not loaded in auto mode.",
    )
    device: DeviceChoice = Field(DeviceChoice.AUTO, description="Device for neural engines: auto, cpu or cuda.")
    workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        le=64,
        description="Built-in engine worker processes (default: one per core).",
    )
    server_thread_max_chars: int = Field(
        500,
        ge=0,
        description="Inputs up to this many characters are spoken on a thread of the server process while it is "
        "free, which saves the hand-over to a worker (~0.3 ms); 0 keeps every synthesis in the workers.",
    )
    max_queue: int = Field(
        64,
        ge=1,
        description="Requests allowed to wait for an engine beyond those running; more get 503 QUEUE_FULL.",
    )
    max_input_chars: int = Field(4096, ge=1, description="Longest text accepted by the speech routes.")
    default_voice: str = Field("default", description="Voice used when a request names none.")

    # --- Dia ------------------------------------------------------------------------------------
    dia_model: str = Field("nari-labs/Dia-1.6B-0626", description="Dia weights: local folder or Hugging Face hub id.")
    dia_codec: str = Field("descript/dac_44khz", description="DAC codec: local folder or hub id.")
    dia_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Dia dtype: auto is bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on CPU."
    )
    dia_max_batch: int = Field(
        32,
        ge=1,
        le=64,
        description="Most concurrent requests decoded in one Dia batch; lowered at load to what the free GPU memory "
        "(CPU: available RAM) holds with every request at Dia's full window (/health says the figure).",
    )
    dia_compile: bool = Field(
        False,
        description="torch.compile the Dia decoding step (CUDA graphs on CUDA) for batch sizes 1, 2, 4, ... up to "
        "the batch, and warm it up at start-up (slower start, faster steps).",
    )
    dia_max_new_tokens: int | None = Field(
        None,
        ge=1,
        description="Cap on Dia audio frames per text segment (~86 per second of audio): the default when a request "
        "gives no max_tokens / max_new_tokens, and the ceiling when it does. Empty: fill the model's window "
        "(3,072 frames, ~35 s, less any reference prompt).",
    )

    # --- CPU voices: Piper and Kokoro (onnxruntime) ------------------------------------------------
    piper_voices: str = Field(
        "",
        description="More Piper voices: comma-separated .onnx files (each with its .onnx.json beside it) or folders "
        "of them. Each becomes a voice named by its file name; the bundled en_US-joe-medium is always there.",
    )
    kokoro_model: str = Field(
        "onnx-community/Kokoro-82M-v1.0-ONNX",
        description="Kokoro-82M v1.0 ONNX: a local folder (the hub layout onnx/ + voices/, or kokoro-onnx's release "
        "files) or a Hugging Face hub id, read from the local cache (downloaded only when TTS_PROVIDER=kokoro).",
    )
    kokoro_precision: Literal["int8", "fp32"] = Field(
        "int8", description="Kokoro graph: int8 (quantized, ~92 MB) or fp32 (~326 MB); about as fast on CPUs."
    )
    onnx_workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Worker processes per ONNX engine (Piper, Kokoro). Empty: one per core, at most 4 (each "
        "holds its own copy of the model: ~0.45 GB for Piper, ~0.6 GB for Kokoro).",
    )
    onnx_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="onnxruntime threads per ONNX worker. Empty: one per core, at most 4 (workers share them).",
    )

    # --- S1-mini (OpenAudio) ------------------------------------------------------------------------
    s1_model: str = Field(
        "fishaudio/openaudio-s1-mini",
        description="S1-mini checkpoint: local folder or Hugging Face hub id (gated: accept its licence and "
        "download it yourself).",
    )
    s1_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="S1-mini dtype: auto is bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on CPU."
    )
    s1_max_batch: int = Field(8, ge=1, le=64, description="Most concurrent requests decoded in one S1-mini batch.")
    s1_compile: bool = Field(False, description="torch.compile the S1-mini decoding steps and warm them up at start.")
    s1_max_new_tokens: int | None = Field(
        None,
        ge=1,
        description="Cap on S1-mini audio frames per text chunk (~21.5 per second): the default when a request gives "
        "no max_new_tokens, and the ceiling when it does. Empty: 1,024 by default, the request's value otherwise.",
    )

    # --- uploads and voices -----------------------------------------------------------------------
    max_upload_mb: float = Field(20, gt=0, description="Largest accepted upload, in MB.")
    max_prompt_seconds: float = Field(60, gt=1, description="Longest accepted reference/prompt audio, in seconds.")
    auto_discover_prompts: bool = Field(True, description="Scan audio_prompts/ for hand-dropped files at start-up.")

    # --- Whisper ----------------------------------------------------------------------------------
    whisper_model: str = Field(
        "base", description="Whisper size name (tiny, base, small, medium, large-v3, turbo) or checkpoint path."
    )
    whisper_device: DeviceChoice = Field(DeviceChoice.AUTO, description="Device for Whisper.")
    auto_transcribe: bool = Field(True, description="Transcribe uploads that come without a transcript.")

    # --- jobs -------------------------------------------------------------------------------------
    job_workers: int = Field(
        2, ge=0, le=32, description="Async jobs processed at once (0: this replica runs none; needs a shared database)."
    )
    max_jobs_queued: int = Field(256, ge=1, description="Pending async jobs allowed; more get 503 QUEUE_FULL.")
    save_outputs: bool = Field(
        True,
        description="Keep async job results under outputs/ until retention removes them; false deletes a "
        "result once it has been downloaded.",
    )
    output_retention_hours: float = Field(
        24, ge=0, description="Finished jobs and their results older than this are deleted (0 keeps them)."
    )

    # --- rate limits ------------------------------------------------------------------------------
    rate_limit_enabled: bool = Field(True, description="Per-client-IP rate limits on generation, uploads and jobs.")
    rate_limit_generate: str = Field("10/minute", description="Generation requests per client IP.")
    rate_limit_upload: str = Field("5/minute", description="Uploads per client IP.")
    rate_limit_jobs: str = Field("100/minute", description="Job queries per client IP.")
    rate_limit_exempt: str = Field(
        "127.0.0.1/8,::1",
        description="Comma-separated client addresses or networks the rate limits do not apply to (default: this "
        "machine). A request forwarded by a proxy counts as the client the proxy names, and only when the proxy is "
        "in TTS_TRUSTED_PROXIES; forwarded through any other proxy it is never exempt. Empty: no exemptions.",
    )

    # --- misc (runtime config keys from the Dia spec) ----------------------------------------------
    debug_mode: bool = Field(False, description="Verbose logging of requests and generation.")
    show_prompts: bool = Field(False, description="Log the text of each request.")

    # --- replicas (a shared PostgreSQL database) ----------------------------------------------------
    database_url: str | None = Field(
        None,
        description="PostgreSQL database shared by every replica (postgresql://user:password@host:5432/db; needs the "
        "'postgres' extra). Empty: the SQLite file tts_server.db in the data dir (one server per data dir).",
    )
    replica_id: str | None = Field(
        None, description="This replica's name in /health, /stats, logs and job leases. Empty: host name and pid."
    )
    job_lease_seconds: float = Field(
        30,
        ge=1,
        description="How long a replica's claim on a running job lasts unless renewed (every third of it); a dead "
        "replica's jobs run elsewhere once it has run out.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate-limit counters live, as a `limits` storage URI: memory:// (each replica counts alone), "
        "or one every replica shares, e.g. redis://host:6379 (needs the 'postgres' extra's redis client).",
    )

    @field_validator("database_url", "replica_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for proxy in value.split(","):
            if proxy.strip():
                ipaddress.ip_network(proxy.strip(), strict=False)  # ValueError names the bad entry
        return value

    @field_validator("rate_limit_exempt")
    @classmethod
    def _check_exempt_networks(cls, value: str) -> str:
        for network in value.split(","):
            if network.strip():
                ipaddress.ip_network(network.strip(), strict=False)  # ValueError names the bad entry
        return value

    @field_validator("wyoming_port", mode="before")
    @classmethod
    def _empty_port_means_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("engine_preference")
    @classmethod
    def _check_engine_ids(cls, value: str) -> str:
        unknown = [name for name in _id_list(value) if name not in ENGINE_IDS]
        if unknown:
            raise ValueError(f"unknown engine ids {unknown}; known: {', '.join(ENGINE_IDS)}")
        return value

    @field_validator("dia_max_new_tokens", "s1_max_new_tokens", "onnx_workers", "onnx_threads", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # .env.example writes `TTS_DIA_MAX_NEW_TOKENS=`; an empty value is "no cap", not a bad integer
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [proxy.strip() for proxy in self.trusted_proxies.split(",") if proxy.strip()]

    @property
    def rate_limit_exempt_list(self) -> list[str]:
        return [network.strip() for network in self.rate_limit_exempt.split(",") if network.strip()]

    @property
    def replica_name(self) -> str:
        return self.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def engine_order(self) -> list[str]:
        """engine_preference as a list of ids, most preferred first."""
        return _id_list(self.engine_preference)

    @property
    def onnx_worker_count(self) -> int:
        return self.onnx_workers or min(_default_workers(), 4)

    @property
    def onnx_thread_count(self) -> int:
        # Every worker may use the cores (at most 4): a lone request then runs ~1.6x faster (Kokoro RTF 0.42
        # against 0.68 with one thread), and with onnxruntime's spinning off busy workers share the cores at
        # no loss of aggregate throughput (bench/cpu_voices.md, "Threads per worker").
        return self.onnx_threads or min(_default_workers(), 4)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _id_list(value: str) -> list[str]:
    return [name.strip().lower() for name in value.split(",") if name.strip()]
