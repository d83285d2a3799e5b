"""Baseline: the tables the server kept before Alembic (voices, voice mappings, jobs, runtime config).

On SQLite these are exactly the tables the earlier per-store migrations created, created only where
missing: a data dir written by an earlier server (with its own `schema_versions` table) is adopted as
it is, nothing copied or lost. PostgreSQL gets the same tables with its own types: timestamptz for
times, and unique indexes on lower(id) where SQLite has COLLATE NOCASE.

Revision ID: 0001
Revises:
Create Date: 2024-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE = (
    """CREATE TABLE IF NOT EXISTS reference_voices (
        voice_id TEXT PRIMARY KEY COLLATE NOCASE,
        file_path TEXT NOT NULL,
        duration REAL NOT NULL,
        sample_rate INTEGER NOT NULL,
        file_size INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        source_hash TEXT NOT NULL,
        transcript TEXT,
        transcript_source TEXT NOT NULL
            CHECK (transcript_source IN ('manual', 'file', 'whisper_auto', 'none')),
        source TEXT NOT NULL CHECK (source IN ('reference', 'audio_prompt', 'discovered')),
        source_filename TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS reference_voice_swaps (
        token TEXT PRIMARY KEY,
        voice_id TEXT NOT NULL COLLATE NOCASE,
        actions TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS voice_mappings (
        voice_id TEXT PRIMARY KEY COLLATE NOCASE,
        style TEXT NOT NULL,
        primary_speaker TEXT NOT NULL CHECK (primary_speaker IN ('S1', 'S2')),
        audio_prompt TEXT COLLATE NOCASE,
        audio_prompt_transcript TEXT,
        voice_seed INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        stage TEXT,
        error_message TEXT,
        error_code TEXT,
        text_preview TEXT NOT NULL,
        params TEXT NOT NULL,
        response_format TEXT NOT NULL,
        media_type TEXT,
        result_file TEXT,
        engine TEXT,
        audio_seconds REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        duration REAL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at)",
    "CREATE TABLE IF NOT EXISTS runtime_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)",
)

_POSTGRESQL = (
    """CREATE TABLE reference_voices (
        voice_id TEXT PRIMARY KEY,
        file_path TEXT NOT NULL,
        duration DOUBLE PRECISION NOT NULL,
        sample_rate INTEGER NOT NULL,
        file_size BIGINT NOT NULL,
        content_hash TEXT NOT NULL,
        source_hash TEXT NOT NULL,
        transcript TEXT,
        transcript_source TEXT NOT NULL
            CHECK (transcript_source IN ('manual', 'file', 'whisper_auto', 'none')),
        source TEXT NOT NULL CHECK (source IN ('reference', 'audio_prompt', 'discovered')),
        source_filename TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE UNIQUE INDEX reference_voices_by_key ON reference_voices (lower(voice_id))",
    "CREATE TABLE reference_voice_swaps (token TEXT PRIMARY KEY, voice_id TEXT NOT NULL, actions TEXT NOT NULL)",
    "CREATE INDEX reference_voice_swaps_by_key ON reference_voice_swaps (lower(voice_id))",
    """CREATE TABLE voice_mappings (
        voice_id TEXT PRIMARY KEY,
        style TEXT NOT NULL,
        primary_speaker TEXT NOT NULL CHECK (primary_speaker IN ('S1', 'S2')),
        audio_prompt TEXT,
        audio_prompt_transcript TEXT,
        voice_seed BIGINT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE UNIQUE INDEX voice_mappings_by_key ON voice_mappings (lower(voice_id))",
    """CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        stage TEXT,
        error_message TEXT,
        error_code TEXT,
        text_preview TEXT NOT NULL,
        params TEXT NOT NULL,
        response_format TEXT NOT NULL,
        media_type TEXT,
        result_file TEXT,
        engine TEXT,
        audio_seconds DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ,
        completed_at TIMESTAMPTZ,
        duration DOUBLE PRECISION
    )""",
    "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
    "CREATE INDEX jobs_by_created ON jobs (created_at)",
    "CREATE TABLE runtime_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
)


def upgrade() -> None:
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    for table in ("runtime_config", "jobs", "voice_mappings", "reference_voice_swaps", "reference_voices"):
        op.drop_table(table)
