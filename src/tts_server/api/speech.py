"""OpenAI-compatible speech: POST /v1/audio/speech and the S1-mini /v1/audio/speech/extended."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tts_server.api.access import rate_limited
from tts_server.api.audio_response import audio_response, sse_response
from tts_server.api.deps import app_state
from tts_server.api.json_route import JsonBodyRoute
from tts_server.engines.base import SamplingParams
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.runtime.speech import SpeechOptions
from tts_server.schemas.common import audio_responses
from tts_server.schemas.speech import ExtendedSpeechRequest, SpeechRequest

# Every speech request passes here: valid JSON bodies skip FastAPI's per-request dependency solving.
router = APIRouter(tags=["speech"], route_class=JsonBodyRoute)

# Sent only when the client set them: S1-mini's defaults (temperature 0.7, max_new_tokens 1024, ...) suit its
# model, not Dia's (1,024 frames would cut a 20 s text segment at 12 s).
_EXTENDED_SAMPLING = ("temperature", "top_p", "repetition_penalty", "max_new_tokens", "seed")


@router.post(
    "/v1/audio/speech",
    response_class=Response,
    responses=audio_responses(400, 429, 500, 503, sse=True),
    summary="Generate speech (OpenAI-compatible)",
    openapi_extra=rate_limited(LimitClass.GENERATE),
)
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    """Speak `input` in `voice`. With `stream` (or any `stream_format`) audio is sent as it is made;
    `stream_format: "sse"` sends OpenAI's speech.audio.delta / speech.audio.done events."""
    return await _respond(body, _options(body), request)


@router.post(
    "/v1/audio/speech/extended",
    response_class=Response,
    responses=audio_responses(400, 429, 500, 503, sse=True),
    summary="Generate speech with sampling controls (S1-mini)",
    openapi_extra=rate_limited(LimitClass.GENERATE),
)
async def create_speech_extended(body: ExtendedSpeechRequest, request: Request) -> Response:
    """As /v1/audio/speech, plus sampling fields for neural engines and `chunk_length` for text chunking.
    The built-in engine does not sample: it accepts the sampling fields and ignores them. Fields left out
    take each engine's own defaults (the defaults shown are S1-mini's)."""
    sent = body.model_fields_set
    sampling = SamplingParams(
        **{name: getattr(body, name) for name in _EXTENDED_SAMPLING if name in sent and getattr(body, name) is not None}
    )
    chunk_chars = body.chunk_length if "chunk_length" in sent else None
    options = _options(body, sampling=sampling, max_chunk_chars=chunk_chars)
    return await _respond(body, options, request)


def _options(
    body: SpeechRequest, *, sampling: SamplingParams | None = None, max_chunk_chars: int | None = None
) -> SpeechOptions:
    return SpeechOptions(
        text=body.input,
        voice=body.voice,
        model=body.model,
        response_format=body.response_format,
        speed=body.speed,
        sample_rate=body.sample_rate,
        language=body.language,
        instructions=body.instructions,
        sampling=sampling or SamplingParams(),
        max_chunk_chars=max_chunk_chars,
    )


async def _respond(body: SpeechRequest, options: SpeechOptions, request: Request) -> Response:
    stream = await app_state(request).speech.open_stream(options)
    if body.stream_format == "sse":
        return sse_response(stream, request, body.input)
    return await audio_response(stream, request, streaming=body.stream or body.stream_format == "audio")
