"""Wire models of async jobs (/generate?async_mode=true, /jobs) and of the WebSocket /ws/generate."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_server.schemas.generate import GenerateRequest

JobStatusName = Literal["pending", "processing", "completed", "failed", "cancelled"]


class JobCreated(BaseModel):
    job_id: str = Field(description="Poll GET /jobs/{job_id}; fetch GET /jobs/{job_id}/result once completed.")
    status: Literal["pending"] = "pending"
    message: str = "Job queued for processing"


class JobInfo(BaseModel):
    job_id: str
    status: JobStatusName
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = Field(None, description="Seconds from the start of processing to its end.")
    result_url: str | None = Field(None, description="Where the audio is, once the job completed.")
    progress: int = Field(ge=0, le=100, description="0-100; only ever grows.")
    stage: str | None = Field(None, description="queued, generating, encoding, then the final status.")
    error_message: str | None = None
    error_code: str | None = None
    text_preview: str = Field(description="The start of the text.")
    response_format: str
    media_type: str | None = None
    audio_duration: float | None = Field(None, description="Seconds of audio in the result.")
    attempts: int = Field(description="Times processing started (a restart mid-job retries it once).")


class JobList(BaseModel):
    jobs: list[JobInfo]


class JobDeleted(BaseModel):
    job_id: str
    status: Literal["cancelled", "deleted"] = Field(
        description="cancelled: it was pending or running and will not finish; deleted: it had finished and "
        "its result is gone."
    )
    message: str


# --- WebSocket /ws/generate ------------------------------------------------------------------------


class WsGenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["generate"]
    data: GenerateRequest = Field(description="The /generate fields; `stream: true` also sends binary audio frames.")
    request_id: str | None = Field(None, max_length=64, description="Echoed in every message about this request.")


class WsCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["cancel"]
    job_id: str


class WsProgress(BaseModel):
    type: Literal["progress"] = "progress"
    job_id: str
    progress: int
    stage: str
    request_id: str | None = None


class WsComplete(BaseModel):
    type: Literal["complete"] = "complete"
    job_id: str
    audio_url: str
    media_type: str | None = None
    duration: float | None = Field(None, description="Seconds of audio.")
    request_id: str | None = None


class WsCancelled(BaseModel):
    type: Literal["cancelled"] = "cancelled"
    job_id: str
    request_id: str | None = None


class WsError(BaseModel):
    type: Literal["error"] = "error"
    message: str
    error_code: str
    job_id: str | None = None
    request_id: str | None = None
