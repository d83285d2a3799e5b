"""The voice library's tables and the SQL on them; every function runs inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, RowMapping, delete, insert, select

from tts_server.store.models import StoredVoice, TranscriptSource, VoiceSource
from tts_server.store.schema import id_key, reference_voice_swaps, reference_voices

_VOICES = reference_voices.c
_SWAPS = reference_voice_swaps.c


def select_voice(conn: Connection, voice_id: str) -> StoredVoice | None:
    row = conn.execute(select(reference_voices).where(id_key(_VOICES.voice_id) == voice_id.lower())).first()
    return voice_from_row(row._mapping) if row else None


def voice_from_row(row: RowMapping) -> StoredVoice:
    return StoredVoice(
        voice_id=row["voice_id"],
        file_path=row["file_path"],
        duration=row["duration"],
        sample_rate=row["sample_rate"],
        file_size=row["file_size"],
        content_hash=row["content_hash"],
        source_hash=row["source_hash"],
        transcript=row["transcript"],
        transcript_source=TranscriptSource(row["transcript_source"]),
        source=VoiceSource(row["source"]),
        source_filename=row["source_filename"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def pending_swaps(conn: Connection, voice_id: str | None) -> list[tuple[str, str, dict[str, str]]]:
    query = select(_SWAPS.token, _SWAPS.voice_id, _SWAPS.actions)
    if voice_id:
        query = query.where(id_key(_SWAPS.voice_id) == voice_id.lower())
    return [
        (row.token, row.voice_id, dict(item.split(":", 1) for item in row.actions.split(",") if item))
        for row in conn.execute(query).all()
    ]


def record_swap(conn: Connection, token: str, voice_id: str, actions: Mapping[str, str]) -> None:
    """The undo record of a file swap, committed before the first file moves."""
    encoded = ",".join(f"{suffix}:{action}" for suffix, action in actions.items())
    conn.execute(insert(reference_voice_swaps).values(token=token, voice_id=voice_id, actions=encoded))


def select_voices(conn: Connection) -> list[StoredVoice]:
    # Sorted here, not in SQL: the dialects' collations order ids differently.
    voices = [voice_from_row(row._mapping) for row in conn.execute(select(reference_voices)).all()]
    return sorted(voices, key=lambda voice: voice.voice_id.lower())


def select_voice_ids(conn: Connection) -> list[str]:
    return list(conn.scalars(select(_VOICES.voice_id)))


def drop_swap(conn: Connection, token: str) -> None:
    conn.execute(delete(reference_voice_swaps).where(_SWAPS.token == token))


def commit_swap(conn: Connection, stem: str, token: str, new: StoredVoice | None) -> None:
    """The commit point of a change: the new row (or none) replaces the old, and the undo record goes."""
    conn.execute(delete(reference_voices).where(id_key(_VOICES.voice_id) == stem.lower()))
    if new is not None:
        conn.execute(
            insert(reference_voices).values(
                voice_id=new.voice_id,
                file_path=new.file_path,
                duration=new.duration,
                sample_rate=new.sample_rate,
                file_size=new.file_size,
                content_hash=new.content_hash,
                source_hash=new.source_hash,
                transcript=new.transcript,
                transcript_source=new.transcript_source.value,
                source=new.source.value,
                source_filename=new.source_filename,
                created_at=new.created_at,
                updated_at=new.updated_at,
            )
        )
    drop_swap(conn, token)
