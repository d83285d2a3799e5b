"""Voice and model listings: /v1/voices (S1-mini), /voices (Dia), /v1/audio/voices, /v1/models, /v1/audio/models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request

from tts_server.api.access import key_accepted
from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.runtime.voices import ListedVoice, list_builtin_voices
from tts_server.schemas.common import error_responses
from tts_server.schemas.voices import (
    AudioModel,
    AudioModelList,
    ModelCapabilities,
    ModelCard,
    ModelList,
    VoiceEntry,
    VoiceList,
)

router = APIRouter(tags=["voices"], route_class=ApiRoute)


async def _voice_list(state: StateDep, runner: EngineRunner | None = None) -> VoiceList:
    runners = [runner] if runner is not None else state.engines.for_listing()
    listed = await state.voices.list_voices(runners)
    return VoiceList(voices=[_entry(voice) for voice in listed])


@router.get(
    "/v1/voices", response_model=VoiceList, responses=error_responses(400, 503), summary="List voices (S1-mini)"
)
async def list_voices_v1(
    state: StateDep,
    engine: Annotated[
        str | None,
        Query(description="An engine id (see /v1/models): list only its built-in voices."),
    ] = None,
) -> VoiceList:
    """Built-in voices (the default engine's, then those of the other engines that only they have, each with
    its engine and language; or only those of `engine`), then reference voices and voice mappings."""
    return await _voice_list(state, state.engines.get(engine, param="engine") if engine else None)


@router.get("/voices", response_model=VoiceList, responses=error_responses(), summary="List voices (Dia)")
async def list_voices(state: StateDep) -> VoiceList:
    """The same listing in the Dia server's shape ({voices: [{voice_id, name, preview_url, ...}]})."""
    return await _voice_list(state)


@router.get("/v1/audio/voices", response_model=VoiceList, responses=error_responses(), summary="List voices")
async def list_audio_voices(state: StateDep, request: Request) -> VoiceList:
    """The listing where OpenAI-compatible clients look for it; each entry also carries `id`, which Open WebUI
    reads. Open WebUI asks without a key, so this route answers without one too: with TTS_API_KEY set, a request
    that does not present it gets the built-in voices only (reference voices and mappings stay private)."""
    if key_accepted(request.scope, state.settings.api_key):
        return await _voice_list(state)
    return VoiceList(voices=[_entry(voice) for voice in list_builtin_voices(state.engines.for_listing())])


@router.get("/v1/models", response_model=ModelList, responses=error_responses(), summary="List models (OpenAI)")
async def list_models(state: StateDep) -> ModelList:
    """Engine ids and the OpenAI model names that map to the default engine."""
    created = int(state.started_wall_clock)
    cards = [_model_card(runner.info.id, runner, created) for runner in state.engines]
    aliases = [_model_card(alias, state.engines.default, created) for alias in state.engines.aliases()]
    return ModelList(data=cards + aliases)


def _model_card(model_id: str, runner: EngineRunner, created: int) -> ModelCard:
    capabilities = runner.info.capabilities
    return ModelCard(
        id=model_id,
        created=created,
        ready=runner.state is RunnerState.READY,
        engine=runner.info.id,
        name=runner.info.name,
        capabilities=ModelCapabilities(
            streaming=capabilities.streaming,
            cloning=capabilities.cloning.value,
            speaker_tags=capabilities.speaker_tags,
            sampling_params=sorted(capabilities.sampling_params),
        ),
    )


@router.get(
    "/v1/audio/models", response_model=AudioModelList, responses=error_responses(), summary="List models (Open WebUI)"
)
async def list_audio_models(state: StateDep) -> AudioModelList:
    """The models in the shape Open WebUI reads (`{models: [{id, name}]}`) when its TTS base URL is not OpenAI's.
    Public, like /health: Open WebUI asks without a key, and engine ids are no secret."""
    default = state.engines.default
    engines = [
        AudioModel(id=runner.info.id, name=runner.info.name, ready=runner.state is RunnerState.READY)
        for runner in state.engines
    ]
    ready = default.state is RunnerState.READY
    aliases = [
        AudioModel(id=alias, name=f"{alias} (default engine: {default.info.id})", ready=ready)
        for alias in state.engines.aliases()
    ]
    return AudioModelList(models=engines + aliases)


def _entry(voice: ListedVoice) -> VoiceEntry:
    return VoiceEntry(
        voice_id=voice.voice_id,
        name=voice.name,
        description=voice.description,
        type=voice.kind,
        engine=voice.engine,
        language=voice.language,
        gender=voice.gender,
        cloning=voice.cloning,
        broken=voice.broken,
        id=voice.voice_id,
    )
