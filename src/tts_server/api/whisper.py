"""The Dia server's Whisper routes: /whisper/status, /whisper/load, /audio_prompts/{id}/transcribe.

`prompts_router` holds the audio-prompt route; app.py mounts it at the root and under /v1, as the
other audio-prompt routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.schemas.common import error_responses
from tts_server.schemas.whisper import PromptTranscribed, WhisperLoaded, WhisperLoadRequest, WhisperStatus

router = APIRouter(tags=["whisper"], route_class=ApiRoute)
prompts_router = APIRouter(tags=["whisper"], route_class=ApiRoute)


@router.get("/whisper/status", response_model=WhisperStatus, responses=error_responses(), summary="Whisper status")
async def whisper_status(state: StateDep) -> WhisperStatus:
    """Whether Whisper is installed and loaded, which model and device, and whether uploads are
    transcribed automatically. Answers at once, even while a model loads."""
    transcripts = state.transcripts
    whisper = transcripts.whisper
    return WhisperStatus(
        available=whisper.available,
        model_loaded=transcripts.model_loaded,
        model_size=whisper.model_name,
        auto_transcribe=transcripts.auto_transcribe,
        device=whisper.device,
        state=whisper.state.value,
        error=whisper.error,
    )


@router.post(
    "/whisper/load",
    response_model=WhisperLoaded,
    responses=error_responses(400, 503),
    summary="Load or reload the Whisper model",
)
async def load_whisper(
    state: StateDep,
    body: Annotated[WhisperLoadRequest | None, Body()] = None,
    model_size: Annotated[
        str | None, Query(min_length=1, max_length=4096, description="The model to load (the body's field wins).")
    ] = None,
) -> WhisperLoaded:
    """Load the model named in the body or query, or else the configured one (`whisper_model_size` of
    GET /config, so a size changed there is applied here without a restart). Loading runs in a worker
    thread; the server keeps answering. 503 WHISPER_NOT_AVAILABLE says how to install Whisper or get
    the model; 400 for a model that is neither a size name nor an existing file."""
    requested = (body.model_size if body else None) or model_size
    name = await state.transcripts.load(requested)
    return WhisperLoaded(
        message="Whisper model loaded successfully", model_size=name, device=state.transcripts.whisper.device
    )


@prompts_router.post(
    "/audio_prompts/{prompt_id}/transcribe",
    response_model=PromptTranscribed,
    responses=error_responses(400, 404, 409, 503),
    summary="Transcribe an audio prompt",
)
async def transcribe_prompt(state: StateDep, prompt_id: str) -> PromptTranscribed:
    """Transcribe the prompt with Whisper and keep the transcript (database and `<id>.txt`, source
    `whisper_auto`), replacing the one it had, manual or not. When Whisper hears no words the stored
    transcript is kept and `saved_to` is null."""
    voice, heard = await state.transcripts.transcribe_voice(state.voice_service, prompt_id)
    return PromptTranscribed(
        message="Transcription completed" if heard else "Whisper heard no words; the transcript was not changed",
        prompt_id=voice.voice_id,
        transcript=heard,
        transcript_source=voice.transcript_source,
        saved_to=voice.file_path.removesuffix(".wav") + ".txt" if heard else None,
    )
