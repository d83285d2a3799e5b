"""Voice and model listings: /v1/voices (S1-mini), /voices (Dia), /v1/audio/voices, /v1/models, /v1/audio/models."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from tts_server.api.access import key_accepted
from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.runner import RunnerState
from tts_server.runtime.voices import ListedVoice, list_builtin_voices
from tts_server.schemas.common import error_responses
from tts_server.schemas.voices import AudioModel, AudioModelList, ModelCard, ModelList, VoiceEntry, VoiceList

router = APIRouter(tags=["voices"], route_class=ApiRoute)


async def _voice_list(state: StateDep) -> VoiceList:
    return VoiceList(voices=[_entry(voice) for voice in await state.voices.list_voices(state.engines.default)])


@router.get("/v1/voices", response_model=VoiceList, responses=error_responses(), summary="List voices (S1-mini)")
async def list_voices_v1(state: StateDep) -> VoiceList:
    """Built-in voices of the default engine, then reference voices and voice mappings."""
    return await _voice_list(state)


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
    return VoiceList(voices=[_entry(voice) for voice in list_builtin_voices(state.engines.default)])


@router.get("/v1/models", response_model=ModelList, responses=error_responses(), summary="List models (OpenAI)")
async def list_models(state: StateDep) -> ModelList:
    """Engine ids and the OpenAI model names that map to the default engine."""
    created = int(state.started_wall_clock)
    cards = [
        ModelCard(id=runner.info.id, created=created, ready=runner.state is RunnerState.READY)
        for runner in state.engines
    ]
    default_ready = state.engines.default.state is RunnerState.READY
    aliases = [ModelCard(id=alias, created=created, ready=default_ready) for alias in state.engines.aliases()]
    return ModelList(data=cards + aliases)


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
