"""Wire models of the Dia server's POST /generate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_server.schemas.speech import FORMAT_DESCRIPTION


class GenerateRequest(BaseModel):
    """The Dia server's generation body. Sampling fields apply to neural engines (Dia); the built-in
    engine accepts and ignores them. `role: user` is spoken by speaker S2, other roles by the voice's
    primary speaker."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(description="Text to speak (max 4096 characters by default).", examples=["Hello, world!"])
    voice_id: str = Field("aria", description="Built-in voice, reference voice / audio prompt, or voice mapping.")
    model: str | None = Field(
        None,
        description="Engine id or alias, as in /v1/audio/speech (tts-server's addition; the Dia server has one "
        "engine). Left out: the default engine.",
    )
    response_format: str = Field(
        "wav", description=FORMAT_DESCRIPTION, json_schema_extra={"enum": ["wav", "mp3", "opus", "aac", "flac", "pcm"]}
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="0.25-4.0; changes tempo, not pitch.")
    role: Literal["user", "assistant", "system"] | None = Field(
        None,
        description="Speaker role: user is spoken as [S2], others as the voice's primary speaker ([S1] unless its "
        "mapping says S2). Applies to text without its own speaker tags.",
    )
    temperature: float | None = Field(None, ge=0.1, le=2.0, description="Sampling temperature (Dia default 1.2).")
    cfg_scale: float | None = Field(
        None, ge=1.0, le=10.0, description="Classifier-free guidance scale (Dia default 3.0)."
    )
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Top-p sampling (Dia default 0.95).")
    top_k: int | None = Field(
        None, ge=1, le=1024, description="Top-k sampling: Dia's cfg_filter_top_k, candidates kept (default 45)."
    )
    repetition_penalty: float | None = Field(
        None, ge=0.9, le=2.0, description="Repetition penalty, for engines that use one (see /v1/models); Dia has none."
    )
    max_tokens: int | None = Field(
        None,
        ge=100,
        le=10000,
        description="Most audio frames per text segment (Dia: ~86 per second), at most the model's 3,072-frame "
        "window and TTS_DIA_MAX_NEW_TOKENS. Not set: a segment runs until it ends.",
    )
    use_torch_compile: bool | None = Field(
        None,
        description="true: torch.compile Dia's decoding step (once for the whole process; the first request pays "
        "for compiling). Once compiled it stays on: false does not switch it off.",
    )
    seed: int | None = Field(None, ge=0, description="Seed for reproducible audio (same seed, same device).")
    voice_seed: int | None = Field(None, ge=0, description="Seed that fixes a seed-based voice's timbre.")
    language: str | None = Field(None, description="Language code for the built-in engine (e.g. de, fr).")
    stream: bool = Field(False, description="Send audio as it is made (chunked transfer).")
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="Resample the output to this rate (Hz).")
