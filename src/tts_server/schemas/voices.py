"""Wire models of the voice listings (S1-mini's /v1/voices, Dia's /voices) and OpenAI's /v1/models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class VoiceEntry(BaseModel):
    voice_id: str
    name: str
    description: str = ""
    preview_url: str | None = None
    type: Literal["builtin", "reference", "mapping"] = Field("builtin", description="Where the voice comes from.")
    engine: str = Field(description="Engine that speaks it by default.")
    language: str | None = None
    gender: str | None = None
    cloning: Literal["none", "approximate", "full"] | None = Field(
        None, description="For reference voices: how the default engine uses the reference."
    )
    broken: bool = Field(False, description="A mapping whose audio prompt no longer exists.")
    id: str = Field(description="Same as voice_id, for OpenAI-style clients (Open WebUI reads id and name).")


class VoiceList(BaseModel):
    voices: list[VoiceEntry]


class ModelCapabilities(BaseModel):
    """What the engine behind a model id does with a request (tts-server's addition to OpenAI's model card)."""

    streaming: bool = Field(description="Sends audio as it is made.")
    cloning: Literal["none", "approximate", "full"] = Field(description="How it uses a reference voice.")
    speaker_tags: bool = Field(description="Performs [S1]/[S2] turns and non-verbal tags like (laughs).")
    sampling_params: list[str] = Field(
        description="The sampling fields it honours (temperature, top_p, top_k, cfg_scale, repetition_penalty, "
        "max_new_tokens, seed, use_torch_compile); it accepts and ignores the others."
    )


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "tts-server"
    ready: bool = True
    engine: str | None = Field(None, description="The engine this id runs on: itself, or the default for an alias.")
    name: str | None = Field(None, description="The engine's name, for people.")
    capabilities: ModelCapabilities | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AudioModel(BaseModel):
    id: str
    name: str
    ready: bool = True


class AudioModelList(BaseModel):
    """The shape Open WebUI reads from `<base URL>/audio/models` to fill its model list."""

    models: list[AudioModel]
