"""The Dia server's voice mappings: a name for a style, a speaker and an audio prompt or a seed.

`router` holds the routes that answer the same with and without the /v1 prefix (app.py mounts it twice);
the two listings differ: GET /voice_mappings is an object keyed by voice_id (the Dia server's shape), and
GET /v1/voice_mappings a JSON array (what SillyTavern's Dia provider iterates).
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter

from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.voice_service import MappingChanges
from tts_server.schemas.common import error_responses
from tts_server.schemas.voice_mappings import (
    VoiceMappingCreate,
    VoiceMappingDeleted,
    VoiceMappingEntry,
    VoiceMappingFields,
    VoiceMappingSaved,
    VoiceMappingUpdate,
)
from tts_server.store.mappings import DEFAULT_STYLE

router = APIRouter(tags=["voice mappings (Dia)"], route_class=ApiRoute)
listings = APIRouter(tags=["voice mappings (Dia)"], route_class=ApiRoute)


@listings.get(
    "/voice_mappings",
    response_model=dict[str, VoiceMappingFields],
    responses=error_responses(),
    summary="Voice mappings, keyed by voice_id",
)
async def voice_mappings_object(state: StateDep) -> dict[str, VoiceMappingFields]:
    """Every mapping as `{voice_id: {style, primary_speaker, audio_prompt, audio_prompt_transcript,
    voice_seed, broken}}`. `broken` marks a mapping whose audio prompt was deleted."""
    mappings = await state.voice_service.mappings.list()
    return {mapping.voice_id: VoiceMappingFields.of(mapping) for mapping in mappings}


@listings.get(
    "/v1/voice_mappings",
    response_model=list[VoiceMappingEntry],
    responses=error_responses(),
    summary="Voice mappings, as an array",
)
async def voice_mappings_array(state: StateDep) -> list[VoiceMappingEntry]:
    """Every mapping as an array of `{voice_id, style, primary_speaker, audio_prompt, ...}`."""
    mappings = await state.voice_service.mappings.list()
    return [VoiceMappingEntry.of(mapping) for mapping in mappings]


@router.post(
    "/voice_mappings",
    response_model=VoiceMappingSaved,
    responses=error_responses(400),
    summary="Create or replace a voice mapping",
)
async def save_voice_mapping(state: StateDep, body: VoiceMappingCreate) -> VoiceMappingSaved:
    """Create the mapping, or replace every field of an existing one. `audio_prompt` must name an
    uploaded prompt (400 INVALID_VOICE_ID otherwise); without one the voice is seed-based."""
    mapping = await state.voice_service.mappings.upsert(
        body.voice_id,
        style=body.style or DEFAULT_STYLE,
        primary_speaker=body.primary_speaker or "S1",
        audio_prompt=body.audio_prompt,
        audio_prompt_transcript=body.audio_prompt_transcript,
        voice_seed=body.voice_seed,
    )
    return VoiceMappingSaved(
        message="Voice mapping saved", voice_id=mapping.voice_id, mapping=VoiceMappingEntry.of(mapping)
    )


@router.put(
    "/voice_mappings/{voice_id}",
    response_model=VoiceMappingSaved,
    responses=error_responses(400, 404),
    summary="Update a voice mapping",
)
async def update_voice_mapping(state: StateDep, voice_id: str, body: VoiceMappingUpdate) -> VoiceMappingSaved:
    """Change the fields the body names; the others keep their values. 404 when there is no such mapping."""
    changes = cast(MappingChanges, body.model_dump(exclude_unset=True))
    mapping = await state.voice_service.update_mapping(voice_id, changes)
    return VoiceMappingSaved(
        message="Voice mapping updated", voice_id=mapping.voice_id, mapping=VoiceMappingEntry.of(mapping)
    )


@router.delete(
    "/voice_mappings/{voice_id}",
    response_model=VoiceMappingDeleted,
    responses=error_responses(400, 404),
    summary="Delete a voice mapping",
)
async def delete_voice_mapping(state: StateDep, voice_id: str) -> VoiceMappingDeleted:
    """Delete the mapping (its audio prompt stays)."""
    deleted = await state.voice_service.mappings.delete(voice_id)
    return VoiceMappingDeleted(message="Voice mapping deleted", voice_id=deleted.voice_id)
