"""The tables, as SQLAlchemy Core sees them: one definition for SQLite and PostgreSQL.

The DDL itself lives in the migrations (store/migrations/versions/), which create these tables on each
dialect; this module is what the stores query with, and the `target_metadata` a new migration is
compared against. The few differences between the dialects are kept here:

- times: ISO-8601 text in SQLite (as the server always wrote them), `timestamptz` in PostgreSQL; both
  read back as aware UTC datetimes (`UtcDateTime`);
- ids are compared without regard to case (`id_key`): SQLite's columns are COLLATE NOCASE, PostgreSQL
  has a unique index on lower(id), and every lookup goes through lower();
- the database's clock (`db_epoch`), which lease expiry is measured against, so replicas whose clocks
  disagree still agree on when a lease ran out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime: ISO text in SQLite (sorts in time order), timestamptz in PostgreSQL."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.isoformat()

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed.astimezone(UTC)


class db_epoch(FunctionElement[float]):
    """The database server's clock, in seconds since the epoch."""

    type = Float()
    inherit_cache = True


@compiles(db_epoch, "postgresql")
def _epoch_postgresql(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def id_key(column: ColumnElement[str]) -> ColumnElement[str]:
    """The case-insensitive key of a voice or mapping id (compare it with `value.lower()`)."""
    return func.lower(column)


metadata = MetaData()

reference_voices = Table(
    "reference_voices",
    metadata,
    Column("voice_id", Text, primary_key=True),
    Column("file_path", Text, nullable=False),
    Column("duration", Float, nullable=False),
    Column("sample_rate", Integer, nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("source_hash", Text, nullable=False),
    Column("transcript", Text),
    Column("transcript_source", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_filename", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Undo records of voice file swaps in flight (voice_files.py); empty whenever nothing is moving.
reference_voice_swaps = Table(
    "reference_voice_swaps",
    metadata,
    Column("token", Text, primary_key=True),
    Column("voice_id", Text, nullable=False),
    Column("actions", Text, nullable=False),
)

voice_mappings = Table(
    "voice_mappings",
    metadata,
    Column("voice_id", Text, primary_key=True),
    Column("style", Text, nullable=False),
    Column("primary_speaker", Text, nullable=False),
    Column("audio_prompt", Text),
    Column("audio_prompt_transcript", Text),
    Column("voice_seed", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("progress", Float, nullable=False, server_default="0"),
    Column("stage", Text),
    Column("error_message", Text),
    Column("error_code", Text),
    Column("text_preview", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("response_format", Text, nullable=False),
    Column("media_type", Text),
    Column("result_file", Text),
    Column("engine", Text),
    Column("audio_seconds", Float),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    Column("duration", Float),
    # Revision 0002: who runs a processing job, until when (db_epoch seconds), and the token that
    # fences its writes; and whether its audio is relayed to watchers on other replicas.
    Column("lease_owner", Text),
    Column("lease_token", Text),
    Column("lease_expires_at", Float),
    Column("stream_audio", Boolean, nullable=False, server_default="0"),
)

runtime_config = Table(
    "runtime_config",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
