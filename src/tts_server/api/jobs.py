"""Async jobs (Dia server): GET /jobs, GET /jobs/{job_id}, GET /jobs/{job_id}/result, DELETE /jobs/{job_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from tts_server.api.access import rate_limited
from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.jobs.queue import JobQueue
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.schemas.common import AUDIO_MEDIA_TYPES, error_responses
from tts_server.schemas.jobs import JobDeleted, JobInfo, JobList
from tts_server.store.jobs import JobRecord, JobStatus

router = APIRouter(tags=["jobs"], route_class=ApiRoute)
_MEDIA_TYPES = (*AUDIO_MEDIA_TYPES, "audio/ogg; codecs=opus")


async def get_jobs(state: StateDep) -> JobQueue:  # async: FastAPI runs a plain def in a thread
    return state.jobs


JobsDep = Annotated[JobQueue, Depends(get_jobs)]


def job_info(record: JobRecord) -> JobInfo:
    completed = record.status is JobStatus.COMPLETED
    return JobInfo(
        job_id=record.job_id,
        status=record.status.value,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        duration=round(record.duration, 3) if record.duration is not None else None,
        result_url=result_url(record.job_id) if completed and record.result_file else None,
        progress=int(record.progress),
        stage=record.stage,
        error_message=record.error_message,
        error_code=record.error_code,
        text_preview=record.text_preview,
        response_format=record.response_format,
        media_type=record.media_type,
        audio_duration=record.audio_seconds,
        attempts=record.attempts,
    )


def result_url(job_id: str) -> str:
    return f"/jobs/{job_id}/result"


@router.get(
    "/jobs",
    response_model=JobList,
    responses=error_responses(429),
    summary="List jobs",
    openapi_extra=rate_limited(LimitClass.JOBS),
)
async def list_jobs(
    jobs: JobsDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most jobs returned, newest first.")] = 50,
) -> JobList:
    """Recent jobs, newest first."""
    return JobList(jobs=[job_info(record) for record in await jobs.list_jobs(status, limit)])


@router.get(
    "/jobs/{job_id}",
    response_model=JobInfo,
    responses=error_responses(404, 429),
    summary="Job status",
    openapi_extra=rate_limited(LimitClass.JOBS),
)
async def get_job(job_id: str, jobs: JobsDep) -> JobInfo:
    """Status, progress (0-100) and stage of a job; `result_url` once it completed, `error_message` if it failed."""
    return job_info(await jobs.get(job_id))


@router.get(
    "/jobs/{job_id}/result",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The audio, in the format the job asked for",
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in _MEDIA_TYPES},
        },
        **error_responses(404, 409, 429),
    },
    summary="Job result",
    openapi_extra=rate_limited(LimitClass.JOBS),
)
async def get_job_result(job_id: str, jobs: JobsDep) -> FileResponse:
    """The audio of a completed job. 409 JOB_NOT_FINISHED (with Retry-After) while it is pending or
    processing; 409 CONFLICT if it failed or was cancelled; 404 for unknown ids and expired results."""
    record, path = await jobs.result(job_id)
    return FileResponse(
        path,
        media_type=record.media_type,
        filename=f"{job_id}.{record.response_format}",
        content_disposition_type="inline",
        headers={"X-Audio-Duration": f"{record.audio_seconds or 0:.3f}"},
        background=BackgroundTask(jobs.result_sent, record),
    )


@router.delete(
    "/jobs/{job_id}",
    response_model=JobDeleted,
    responses=error_responses(404, 409, 429),
    summary="Cancel or delete",
    openapi_extra=rate_limited(LimitClass.JOBS),
)
async def delete_job(job_id: str, jobs: JobsDep) -> JobDeleted:
    """Cancel a pending or running job (a running synthesis stops), or delete a finished job and its result."""
    record, deleted = await jobs.cancel_or_delete(job_id)
    if deleted:
        return JobDeleted(job_id=record.job_id, status="deleted", message="Job and its result deleted.")
    return JobDeleted(job_id=record.job_id, status="cancelled", message="Job cancelled.")
