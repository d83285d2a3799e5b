"""Wire models of OpenAI's speech API and the S1-mini server's extended variant."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_DESCRIPTION = "Audio format: wav, mp3, opus (Ogg/Opus), aac (ADTS), flac, or pcm (s16le mono, 24 kHz)."


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body, plus the S1-mini server's `stream`."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("default", description="tts-1, tts-1-hd, gpt-4o-mini-tts, default, or an engine id.")
    input: str = Field(description="Text to speak (1-4096 characters by default).", examples=["Hello there!"])
    voice: str = Field(
        "default", description="A built-in voice (alloy, nova, aria, ...), a reference voice or a voice mapping."
    )
    response_format: str = Field(
        "wav", description=FORMAT_DESCRIPTION, json_schema_extra={"enum": ["wav", "mp3", "opus", "aac", "flac", "pcm"]}
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="0.25-4.0; changes tempo, not pitch.")
    stream: bool = Field(False, description="Send audio as it is made (chunked transfer).")
    stream_format: Literal["audio", "sse"] | None = Field(
        None, description="audio: raw chunked audio; sse: OpenAI's speech.audio.delta events. Implies streaming."
    )
    instructions: str | None = Field(None, description="Delivery instructions; used where an engine can.")
    language: str | None = Field(None, description="Language code for the built-in engine (e.g. de, fr, en-gb).")
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="Resample the output to this rate (Hz).")


class ExtendedSpeechRequest(SpeechRequest):
    """The S1-mini `/v1/audio/speech/extended` body. Engines that do not sample (the built-in
    engine) accept and ignore the sampling fields; chunk_length sets the text chunk size. The defaults
    shown are S1-mini's; a field left out of the request takes the engine's own default instead."""

    temperature: float = Field(
        0.7, ge=0.1, le=1.0, description="Sampling temperature (neural engines). Left out: Dia uses 1.2."
    )
    top_p: float = Field(0.8, ge=0.1, le=1.0, description="Nucleus sampling (neural engines). Left out: Dia uses 0.95.")
    repetition_penalty: float = Field(
        1.1, ge=0.9, le=2.0, description="Repetition penalty. Dia has none: it accepts and ignores this field."
    )
    max_new_tokens: int = Field(
        1024,
        ge=100,
        le=4096,
        description="Most tokens generated. Dia: audio frames per text segment (~86 per second), at most its "
        "3,072-frame window and TTS_DIA_MAX_NEW_TOKENS; left out, a segment runs until it ends.",
    )
    chunk_length: int = Field(
        200,
        ge=100,
        le=300,
        description="Characters per text chunk. Dia cuts longer text into segments of at most this size, each "
        "conditioned on the same voice; left out, Dia's segments hold up to ~20 s of speech.",
    )
    seed: int | None = Field(
        None, ge=0, description="Seed for reproducible sampling (neural engines): same seed, same device, same audio."
    )
