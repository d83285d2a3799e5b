"""Voice and model listings: /v1/voices (S1-mini), /voices (Dia), /v1/audio/voices, /v1/models."""

from __future__ import annotations

from fastapi import APIRouter

from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.runner import RunnerState
from tts_server.runtime.voices import ListedVoice
from tts_server.schemas.common import error_responses
from tts_server.schemas.voices import ModelCard, ModelList, VoiceEntry, VoiceList

router = APIRouter(tags=["voices"], route_class=ApiRoute)


async def _voice_list(state: StateDep) -> VoiceList:
    listed = await state.voices.list_voices(state.engines.for_listing())
    return VoiceList(voices=[_entry(voice) for voice in listed])


@router.get("/v1/voices", response_model=VoiceList, responses=error_responses(), summary="List voices (S1-mini)")
async def list_voices_v1(state: StateDep) -> VoiceList:
    """Built-in voices (the default engine's, then those of the other engines that only they have, each with
    its engine and language), then reference voices and voice mappings."""
    return await _voice_list(state)


@router.get("/voices", response_model=VoiceList, responses=error_responses(), summary="List voices (Dia)")
async def list_voices(state: StateDep) -> VoiceList:
    """The same listing in the Dia server's shape ({voices: [{voice_id, name, preview_url, ...}]})."""
    return await _voice_list(state)


@router.get("/v1/audio/voices", response_model=VoiceList, responses=error_responses(), summary="List voices")
async def list_audio_voices(state: StateDep) -> VoiceList:
    """Alias some OpenAI-compatible clients use."""
    return await _voice_list(state)


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
    )
