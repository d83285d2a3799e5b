"""The Dia server's POST /generate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tts_server.api.access import rate_limited
from tts_server.api.audio_response import audio_response
from tts_server.api.deps import SpeechDep
from tts_server.api.jobs import JobsDep
from tts_server.api.routes import ApiRoute
from tts_server.engines.base import SamplingParams
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.runtime.speech import SpeechOptions
from tts_server.schemas.common import audio_responses
from tts_server.schemas.generate import GenerateRequest
from tts_server.schemas.jobs import JobCreated

router = APIRouter(tags=["generate"], route_class=ApiRoute)


def generate_options(body: GenerateRequest) -> SpeechOptions:
    """The /generate fields as a SpeechOptions (also used by async jobs and the WebSocket)."""
    sampling = SamplingParams(
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        cfg_scale=body.cfg_scale,
        repetition_penalty=body.repetition_penalty,
        max_new_tokens=body.max_tokens,
        seed=body.seed,
        use_torch_compile=body.use_torch_compile,
    )
    return SpeechOptions(
        text=body.text,
        voice=body.voice_id,
        model=body.model,
        response_format=body.response_format,
        speed=body.speed,
        sample_rate=body.sample_rate,
        language=body.language,
        role=body.role,
        sampling=sampling,
        voice_seed=body.voice_seed,
        voice_param="voice_id",
        text_param="text",
    )


def _generate_responses() -> dict[int | str, dict[str, Any]]:
    responses = audio_responses(400, 429, 500, 503)
    responses[200]["model"] = JobCreated  # the answer to async_mode=true, as application/json
    return responses


@router.post(
    "/generate",
    response_class=Response,
    responses=_generate_responses(),
    summary="Generate speech (Dia server)",
    openapi_extra=rate_limited(LimitClass.GENERATE),
)
async def generate(
    body: GenerateRequest,
    speech: SpeechDep,
    jobs: JobsDep,
    request: Request,
    async_mode: Annotated[
        bool, Query(description="Queue a job and answer at once with its job_id; poll GET /jobs/{job_id}.")
    ] = False,
) -> Response:
    """Speak `text` in `voice_id` and return the whole clip (or stream it with `stream: true`).
    With `async_mode=true`, answer at once with `{job_id, status: "pending", message}` (503 QUEUE_FULL
    when the job queue is full)."""
    if async_mode:
        record, _ = await jobs.submit(generate_options(body))
        return JSONResponse(JobCreated(job_id=record.job_id).model_dump())
    stream = await speech.open_stream(generate_options(body))
    return await audio_response(stream, request, streaming=body.stream)
