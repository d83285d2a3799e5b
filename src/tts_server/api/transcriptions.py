"""OpenAI's POST /v1/audio/transcriptions, answered by the server's Whisper model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.responses import JSONResponse, Response

from tts_server.api.access import rate_limited
from tts_server.api.deps import StateDep
from tts_server.api.uploads import LimitedUploadRoute, read_upload
from tts_server.asr.formats import SRT_TYPE, TEXT_TYPE, VTT_TYPE, render_transcription
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.runtime.transcripts import parse_response_format
from tts_server.schemas.common import error_responses
from tts_server.schemas.whisper import TranscriptionText, VerboseTranscription

router = APIRouter(tags=["transcription (OpenAI)"], route_class=LimitedUploadRoute)

_TEXT = {"schema": {"type": "string"}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The transcript: JSON for json and verbose_json, else plain text, SubRip or WebVTT.",
        "model": TranscriptionText | VerboseTranscription,
        "content": {media_type.split(";")[0]: _TEXT for media_type in (TEXT_TYPE, SRT_TYPE, VTT_TYPE)},
    },
    **error_responses(400, 413, 429, 503),
}


@router.post(
    "/v1/audio/transcriptions",
    response_model=None,
    responses=_RESPONSES,
    summary="Transcribe audio (OpenAI)",
    openapi_extra=rate_limited(LimitClass.UPLOAD),
)
async def create_transcription(
    state: StateDep,
    file: Annotated[UploadFile, File(description="wav, mp3, ogg/opus, flac, m4a/aac or webm.")],
    model: Annotated[str, Form(description="whisper-1 or a Whisper size; the loaded model answers.")] = "whisper-1",
    language: Annotated[str | None, Form(description="ISO 639-1 code ('en'); empty: detected.")] = None,
    prompt: Annotated[str | None, Form(description="Text that guides spelling and style.")] = None,
    response_format: Annotated[str, Form(description="json, text, verbose_json, srt or vtt.")] = "json",
    temperature: Annotated[float, Form(ge=0, le=1, description="0: greedy, raised where decoding fails.")] = 0.0,
) -> Response:
    """Transcribe an audio file as OpenAI's API does. The model is loaded on first use. 400
    AUDIO_PROCESSING_ERROR when the file is not usable audio; 503 WHISPER_NOT_AVAILABLE, with what to
    install, when Whisper is not there."""
    fmt = parse_response_format(response_format)
    state.transcripts.check_model(model)
    data = await read_upload(file, state.settings.max_upload_bytes)
    transcription = await state.transcripts.transcribe_upload(
        data, language=language, prompt=prompt, temperature=temperature
    )
    body, media_type = render_transcription(transcription, fmt)
    if isinstance(body, dict):
        return JSONResponse(body, media_type=media_type)
    return Response(body, media_type=media_type)
