"""The voice library's tables and the SQL on them; every function runs inside a caller's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from tts_server.store.database import Schema, sql_migration
from tts_server.store.models import StoredVoice, TranscriptSource, VoiceSource, from_db_time, to_db_time

VOICES_SCHEMA = Schema(
    "voices",
    (
        sql_migration(
            """CREATE TABLE reference_voices (
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
            # Undo records of file swaps in flight (voice_files.py); empty whenever nothing is moving.
            """CREATE TABLE reference_voice_swaps (
                token TEXT PRIMARY KEY,
                voice_id TEXT NOT NULL COLLATE NOCASE,
                actions TEXT NOT NULL
            )""",
        ),
    ),
)

_COLUMNS = (
    "voice_id, file_path, duration, sample_rate, file_size, content_hash, source_hash, transcript, "
    "transcript_source, source, source_filename, created_at, updated_at"
)


def select_voice(conn: sqlite3.Connection, voice_id: str) -> StoredVoice | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM reference_voices WHERE voice_id = ?", (voice_id,)).fetchone()
    return voice_from_row(row) if row else None


def voice_from_row(row: sqlite3.Row) -> StoredVoice:
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
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )


def pending_swaps(conn: sqlite3.Connection, voice_id: str | None) -> list[tuple[str, str, dict[str, str]]]:
    query = "SELECT token, voice_id, actions FROM reference_voice_swaps"
    rows = conn.execute(query + " WHERE voice_id = ?", (voice_id,)) if voice_id else conn.execute(query)
    return [
        (row["token"], row["voice_id"], dict(item.split(":", 1) for item in row["actions"].split(",") if item))
        for row in rows.fetchall()
    ]


def record_swap(conn: sqlite3.Connection, token: str, voice_id: str, actions: Mapping[str, str]) -> None:
    """The undo record of a file swap, committed before the first file moves."""
    encoded = ",".join(f"{suffix}:{action}" for suffix, action in actions.items())
    conn.execute(
        "INSERT INTO reference_voice_swaps (token, voice_id, actions) VALUES (?, ?, ?)", (token, voice_id, encoded)
    )


def select_voices(conn: sqlite3.Connection) -> list[StoredVoice]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM reference_voices ORDER BY voice_id").fetchall()
    return [voice_from_row(row) for row in rows]


def drop_swap(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM reference_voice_swaps WHERE token = ?", (token,))


def commit_swap(conn: sqlite3.Connection, stem: str, token: str, new: StoredVoice | None) -> None:
    """The commit point of a change: the new row (or none) replaces the old, and the undo record goes."""
    conn.execute("DELETE FROM reference_voices WHERE voice_id = ?", (stem,))
    if new is not None:
        conn.execute(
            f"INSERT INTO reference_voices ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            (
                new.voice_id,
                new.file_path,
                new.duration,
                new.sample_rate,
                new.file_size,
                new.content_hash,
                new.source_hash,
                new.transcript,
                new.transcript_source.value,
                new.source.value,
                new.source_filename,
                to_db_time(new.created_at),
                to_db_time(new.updated_at),
            ),
        )
    drop_swap(conn, token)
