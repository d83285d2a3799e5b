"""The Dia view of the voice library: /audio_prompts/... (app.py also mounts it under /v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Form, UploadFile
from starlette.responses import Response

from tts_server.api.access import rate_limited
from tts_server.api.deps import StateDep
from tts_server.api.uploads import LimitedUploadRoute, read_upload
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.schemas.audio_prompts import (
    AudioPromptDeleted,
    AudioPromptEntry,
    AudioPromptList,
    AudioPromptMetadata,
    AudioPromptMetadataList,
    AudioPromptUploaded,
    DiscoveredPrompt,
    DiscoverRequest,
    DiscoverResponse,
    SkippedPromptFile,
    TranscriptUpdate,
    TranscriptUpdated,
)
from tts_server.schemas.common import error_responses
from tts_server.store.models import VoiceSource

router = APIRouter(tags=["audio prompts (Dia)"], route_class=LimitedUploadRoute)


@router.post(
    "/audio_prompts/upload",
    response_model=AudioPromptUploaded,
    responses=error_responses(400, 413, 429),
    openapi_extra=rate_limited(LimitClass.UPLOAD),
    summary="Upload an audio prompt",
)
async def upload_audio_prompt(
    state: StateDep,
    prompt_id: Annotated[str, Form(description="Prompt id: 1-64 letters, digits, '_' or '-'.")],
    audio_file: Annotated[
        UploadFile, File(description="wav, mp3, ogg/opus, flac, m4a/aac or webm; 1 s to the maximum.")
    ],
    transcript: Annotated[
        str | None, Form(description="The words spoken. Empty: transcribed automatically when that is on.")
    ] = None,
) -> AudioPromptUploaded:
    """Store a voice for cloning, usable as `voice_id` / `voice` and in voice mappings. An existing
    prompt of the same id is replaced atomically (`replaced: true`). When transcription fails the upload
    still succeeds, without a transcript, and `warning` says why."""
    voices = state.voice_service
    data = await read_upload(audio_file, voices.max_upload_bytes)
    outcome = await voices.add_voice(
        prompt_id,
        data,
        transcript=transcript,
        overwrite=True,
        source=VoiceSource.AUDIO_PROMPT,
        source_filename=audio_file.filename,
        param="prompt_id",
    )
    voice = outcome.voice
    return AudioPromptUploaded(
        message="Audio prompt replaced" if outcome.replaced else "Audio prompt uploaded successfully",
        prompt_id=voice.voice_id,
        file_path=voice.file_path,
        duration=round(voice.duration, 3),
        sample_rate=voice.sample_rate,
        transcript=voice.transcript or "",
        transcript_source=voice.transcript_source,
        replaced=outcome.replaced,
        warning=outcome.warning,
    )


@router.get("/audio_prompts", response_model=AudioPromptList, responses=error_responses(), summary="List audio prompts")
async def list_audio_prompts(state: StateDep) -> AudioPromptList:
    """Every voice in the library (S1 references included: it is one library)."""
    voices = await state.voice_service.library.list()
    return AudioPromptList(audio_prompts=[AudioPromptEntry.of(voice) for voice in voices])


@router.get(
    "/audio_prompts/metadata",
    response_model=AudioPromptMetadataList,
    responses=error_responses(),
    summary="Metadata of all audio prompts",
)
async def list_audio_prompt_metadata(state: StateDep) -> AudioPromptMetadataList:
    """Transcripts, their source (manual, file, whisper_auto, none), sizes, hashes and dates."""
    voices = await state.voice_service.library.list()
    return AudioPromptMetadataList(audio_prompts=[AudioPromptMetadata.of(voice) for voice in voices])


@router.get(
    "/audio_prompts/metadata/{prompt_id}",
    response_model=AudioPromptMetadata,
    responses=error_responses(400, 404),
    summary="Metadata of one audio prompt",
)
async def get_audio_prompt_metadata(state: StateDep, prompt_id: str) -> AudioPromptMetadata:
    return AudioPromptMetadata.of(await state.voice_service.get_voice(prompt_id))


@router.get(
    "/audio_prompts/{prompt_id}/audio",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "The stored WAV."}, **error_responses(400, 404)},
    summary="Listen to an audio prompt",
)
async def get_audio_prompt_audio(state: StateDep, prompt_id: str) -> Response:
    """The prompt's audio as stored (mono WAV, normalised on upload): what the engines clone from."""
    audio = await state.voice_service.voice_audio(prompt_id)
    return Response(audio, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@router.delete(
    "/audio_prompts/{prompt_id}",
    response_model=AudioPromptDeleted,
    responses=error_responses(400, 404),
    summary="Delete an audio prompt",
)
async def delete_audio_prompt(state: StateDep, prompt_id: str) -> AudioPromptDeleted:
    """Delete the prompt's audio (hand-dropped originals too), transcript and metadata. Voice mappings
    that use it stay, reported as broken, until they are changed or deleted."""
    deleted = await state.voice_service.library.delete(prompt_id)
    return AudioPromptDeleted(message="Audio prompt deleted", prompt_id=deleted.voice_id)


@router.post(
    "/audio_prompts/discover",
    response_model=DiscoverResponse,
    responses=error_responses(429),
    openapi_extra=rate_limited(LimitClass.UPLOAD),
    summary="Discover hand-dropped audio prompts",
)
async def discover_audio_prompts(
    state: StateDep, body: Annotated[DiscoverRequest | None, Body()] = None
) -> DiscoverResponse:
    """Scan audio_prompts/ for audio files dropped there by hand (`<id>.wav`, `.mp3`, ...; a same-named
    `.txt` is the transcript). New and changed files become prompts; files of deleted prompts are gone.
    Without a transcript, prompts are transcribed when auto-transcription is on; `force_retranscribe`
    transcribes every prompt again, manual transcripts included."""
    force = body.force_retranscribe if body else False
    report = await state.voice_service.discover(force_retranscribe=force)
    result = report.result
    return DiscoverResponse(
        message="Audio prompt discovery completed",
        total_prompts=result.total,
        discovered=[
            DiscoveredPrompt(
                prompt_id=voice.voice_id,
                file_path=voice.file_path,
                transcript=voice.transcript or "",
                transcript_source=voice.transcript_source,
            )
            for voice in result.discovered
        ],
        skipped=[SkippedPromptFile(file_name=item.file_name, reason=item.reason) for item in result.skipped],
        removed=list(result.removed),
        warnings=report.warnings,
    )


@router.put(
    "/audio_prompts/{prompt_id}/transcript",
    response_model=TranscriptUpdated,
    responses=error_responses(400, 404),
    summary="Set an audio prompt's transcript",
)
async def put_transcript(state: StateDep, prompt_id: str, body: TranscriptUpdate) -> TranscriptUpdated:
    """Replace the transcript by hand (saved as `<id>.txt` too). A manual transcript is never replaced
    automatically, except by discovery with `force_retranscribe`."""
    voice = await state.voice_service.set_transcript(prompt_id, body.transcript)
    return TranscriptUpdated(
        message="Transcript updated",
        prompt_id=voice.voice_id,
        transcript=voice.transcript or "",
        transcript_source=voice.transcript_source,
        saved_to=voice.file_path.removesuffix(".wav") + ".txt",
    )
