"""Voice mappings (the Dia surface): a name for a style, a primary speaker and an audio prompt or a seed.

A mapping does not own its audio prompt: deleting the prompt leaves the mapping in place, reported as
`broken` in listings, so the user sees what to fix instead of a mapping silently vanishing.
"""

from __future__ import annotations

import builtins
import sqlite3

from tts_server.engines.base import Speaker
from tts_server.errors import InvalidRequest, NotFound, VoiceNotFound
from tts_server.store.database import Database, Schema, sql_migration
from tts_server.store.ids import KnownIds, is_valid_voice_id, validate_voice_id
from tts_server.store.models import VoiceMapping, from_db_time, to_db_time, utc_now
from tts_server.store.voice_rows import VOICES_SCHEMA, select_voice

DEFAULT_STYLE = "neutral"
_SEED_RANGE = range(-(2**63), 2**63)  # what SQLite's INTEGER holds

MAPPINGS_SCHEMA = Schema(
    "voice_mappings",
    (
        sql_migration(
            """CREATE TABLE voice_mappings (
                voice_id TEXT PRIMARY KEY COLLATE NOCASE,
                style TEXT NOT NULL,
                primary_speaker TEXT NOT NULL CHECK (primary_speaker IN ('S1', 'S2')),
                audio_prompt TEXT COLLATE NOCASE,
                audio_prompt_transcript TEXT,
                voice_seed INTEGER,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )"""
        ),
    ),
)

_SELECT = """
    SELECT m.voice_id, m.style, m.primary_speaker, m.audio_prompt, m.audio_prompt_transcript, m.voice_seed,
           m.created_at, m.updated_at,
           m.audio_prompt IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM reference_voices r WHERE r.voice_id = m.audio_prompt) AS broken
    FROM voice_mappings m
"""


class VoiceMappings:
    """CRUD of voice mappings in the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.ensure_schema(VOICES_SCHEMA)  # `broken` is computed against the voice library
        db.ensure_schema(MAPPINGS_SCHEMA)
        ids = db.run_sync(lambda conn: [row[0] for row in conn.execute("SELECT voice_id FROM voice_mappings")])
        self._ids = KnownIds(ids)

    def may_exist(self, voice_id: str) -> bool:
        """False when no mapping has this id; answered from memory (see KnownIds)."""
        return self._ids.may_exist(voice_id)

    async def upsert(
        self,
        voice_id: str,
        *,
        style: str | None = DEFAULT_STYLE,
        primary_speaker: str = "S1",
        audio_prompt: str | None = None,
        audio_prompt_transcript: str | None = None,
        voice_seed: int | None = None,
    ) -> VoiceMapping:
        """Create the mapping, or replace every field of an existing one (created_at is kept).

        The audio prompt must exist in the voice library (400 INVALID_VOICE_ID otherwise).
        """
        voice_id = validate_voice_id(voice_id, "voice_id")
        speaker = _speaker(primary_speaker)
        prompt = validate_voice_id(audio_prompt, "audio_prompt") if audio_prompt else None
        if voice_seed is not None and voice_seed not in _SEED_RANGE:
            raise InvalidRequest("'voice_seed' must fit in a signed 64-bit integer.", param="voice_seed")
        values = (
            (style or "").strip() or DEFAULT_STYLE,
            speaker,
            (audio_prompt_transcript or "").strip() or None,
            voice_seed,
        )

        def write(conn: sqlite3.Connection) -> VoiceMapping:
            self._ids.adding(voice_id)
            prompt_id = _existing_prompt(conn, prompt) if prompt else None
            now = to_db_time(utc_now())
            conn.execute(
                """INSERT INTO voice_mappings (voice_id, style, primary_speaker, audio_prompt_transcript,
                       voice_seed, audio_prompt, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(voice_id) DO UPDATE SET
                       style = excluded.style, primary_speaker = excluded.primary_speaker,
                       audio_prompt_transcript = excluded.audio_prompt_transcript,
                       voice_seed = excluded.voice_seed, audio_prompt = excluded.audio_prompt,
                       updated_at = excluded.updated_at""",
                (voice_id, *values, prompt_id, now, now),
            )
            mapping = _select_one(conn, voice_id)
            assert mapping is not None
            return mapping

        return await self._db.run(write)

    async def get(self, voice_id: str) -> VoiceMapping | None:
        """The mapping with this id (any case), or None. Invalid ids are simply not found."""
        if not is_valid_voice_id(voice_id):
            return None
        return await self._db.run(lambda conn: _select_one(conn, voice_id))

    async def list(self) -> builtins.list[VoiceMapping]:
        def select_all(conn: sqlite3.Connection) -> builtins.list[VoiceMapping]:
            return [_mapping(row) for row in conn.execute(_SELECT + " ORDER BY m.voice_id").fetchall()]

        return await self._db.run(select_all)

    async def delete(self, voice_id: str) -> VoiceMapping:
        """Delete the mapping; NotFound (404) when there is none."""
        voice_id = validate_voice_id(voice_id, "voice_id")

        def remove(conn: sqlite3.Connection) -> VoiceMapping:
            mapping = _select_one(conn, voice_id)
            if mapping is None:
                raise NotFound(f"No voice mapping named '{voice_id}'.", param="voice_id")
            conn.execute("DELETE FROM voice_mappings WHERE voice_id = ?", (voice_id,))
            self._ids.deleted(voice_id)  # under the database lock, which orders writes of this id
            return mapping

        try:
            return await self._db.run(remove)
        except BaseException:
            self._ids.adding(voice_id)  # the delete may have been rolled back: stay a superset
            raise


def _speaker(value: str) -> Speaker:
    if value == "S1":
        return "S1"
    if value == "S2":
        return "S2"
    raise InvalidRequest(f"'primary_speaker' must be S1 or S2, not {value!r}.", param="primary_speaker")


def _existing_prompt(conn: sqlite3.Connection, prompt: str) -> str:
    voice = select_voice(conn, prompt)
    if voice is None:
        reason = f"Audio prompt '{prompt}' not found. GET /audio_prompts lists the uploaded prompts."
        raise VoiceNotFound(prompt, param="audio_prompt", reason=reason)
    return voice.voice_id


def _select_one(conn: sqlite3.Connection, voice_id: str) -> VoiceMapping | None:
    row = conn.execute(_SELECT + " WHERE m.voice_id = ?", (voice_id,)).fetchone()
    return _mapping(row) if row else None


def _mapping(row: sqlite3.Row) -> VoiceMapping:
    return VoiceMapping(
        voice_id=row["voice_id"],
        style=row["style"],
        primary_speaker=_speaker(row["primary_speaker"]),
        audio_prompt=row["audio_prompt"],
        audio_prompt_transcript=row["audio_prompt_transcript"],
        voice_seed=row["voice_seed"],
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
        broken=bool(row["broken"]),
    )
