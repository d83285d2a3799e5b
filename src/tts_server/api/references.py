"""The S1-mini view of the voice library: POST /v1/references/add, GET /v1/references, DELETE."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from tts_server.api.access import rate_limited
from tts_server.api.deps import StateDep
from tts_server.api.uploads import LimitedUploadRoute, read_upload
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.schemas.common import error_responses
from tts_server.schemas.references import ReferenceAdded, ReferenceDeleted, ReferenceEntry, ReferenceList
from tts_server.store.models import VoiceSource

router = APIRouter(tags=["references (S1-mini)"], route_class=LimitedUploadRoute)


@router.post(
    "/v1/references/add",
    response_model=ReferenceAdded,
    responses=error_responses(400, 409, 413, 429),
    openapi_extra=rate_limited(LimitClass.UPLOAD),
    summary="Add a reference voice",
)
async def add_reference(
    state: StateDep,
    id: Annotated[str, Form(description="Voice id: 1-64 letters, digits, '_' or '-'.")],
    audio: Annotated[UploadFile, File(description="wav, mp3, ogg/opus, flac, m4a/aac or webm; 1 s to the maximum.")],
    text: Annotated[
        str | None, Form(description="Transcript of the audio. Empty: transcribed when that is on.")
    ] = None,
    overwrite: Annotated[bool, Form(description="Replace a voice of the same id instead of answering 409.")] = False,
) -> ReferenceAdded:
    """Store a reference voice (decoded, mixed to mono and normalised once). Usable at once as `voice` /
    `voice_id` in every speech route, and kept across restarts. 409 when the id exists, unless
    `overwrite=true`; unusable audio is a 400 and too large a file a 413, with nothing written."""
    voices = state.voice_service
    data = await read_upload(audio, voices.max_upload_bytes)
    outcome = await voices.add_voice(
        id,
        data,
        transcript=text,
        overwrite=overwrite,
        source=VoiceSource.REFERENCE,
        source_filename=audio.filename,
        param="id",
    )
    message = "Reference voice replaced" if outcome.replaced else "Reference voice added"
    entry = ReferenceEntry.of(outcome.voice)
    return ReferenceAdded(**entry.model_dump(), message=message, replaced=outcome.replaced, warning=outcome.warning)


@router.get(
    "/v1/references", response_model=ReferenceList, responses=error_responses(), summary="List reference voices"
)
async def list_references(state: StateDep) -> ReferenceList:
    """Every reference voice, uploaded through either API family or dropped into audio_prompts/."""
    voices = await state.voice_service.library.list()
    return ReferenceList(references=[ReferenceEntry.of(voice) for voice in voices])


@router.delete(
    "/v1/references/{voice_id}",
    response_model=ReferenceDeleted,
    responses=error_responses(400, 404),
    summary="Delete a reference voice",
)
async def delete_reference(state: StateDep, voice_id: str) -> ReferenceDeleted:
    """Delete the voice's audio, transcript and metadata. Voice mappings that use it stay, reported as
    broken, until they are changed or deleted."""
    deleted = await state.voice_service.library.delete(voice_id)
    return ReferenceDeleted(message="Reference voice deleted", id=deleted.voice_id)
