"""Voice mappings (the Dia surface): a name for a style, a primary speaker and an audio prompt or a seed.

A mapping does not own its audio prompt: deleting the prompt leaves the mapping in place, reported as
`broken` in listings, so the user sees what to fix instead of a mapping silently vanishing.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from tts_server.engines.base import Speaker
from tts_server.errors import InvalidRequest, NotFound, VoiceNotFound
from tts_server.store.database import Database
from tts_server.store.ids import KnownIds, is_valid_voice_id, validate_voice_id
from tts_server.store.models import VoiceMapping, utc_now
from tts_server.store.schema import id_key, reference_voices, voice_mappings
from tts_server.store.voice_rows import select_voice

DEFAULT_STYLE = "neutral"
_SEED_RANGE = range(-(2**63), 2**63)  # what a 64-bit integer column holds

_MAPPINGS = voice_mappings.c
_BROKEN = (
    _MAPPINGS.audio_prompt.is_not(None)
    & ~exists().where(id_key(reference_voices.c.voice_id) == id_key(_MAPPINGS.audio_prompt))
).label("broken")
_SELECT = select(voice_mappings, _BROKEN)


class VoiceMappings:
    """CRUD of voice mappings in the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ids = KnownIds(db.run_sync(_select_ids))
        self.on_written: Callable[[str], None] = lambda voice_id: None  # told each id an upsert wrote

    def may_exist(self, voice_id: str) -> bool:
        """False when no mapping has this id; answered from memory (see KnownIds)."""
        return self._ids.may_exist(voice_id)

    def learned(self, voice_id: str) -> None:
        """Another replica wrote this id: it may exist now (its row is read at the next use)."""
        self._ids.adding(voice_id)

    async def reload_ids(self) -> None:
        """Learn every id in the database (after notices from other replicas may have been missed)."""
        for voice_id in await self._db.run(_select_ids):
            self._ids.adding(voice_id)

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
        values: dict[str, Any] = {
            "style": (style or "").strip() or DEFAULT_STYLE,
            "primary_speaker": speaker,
            "audio_prompt_transcript": (audio_prompt_transcript or "").strip() or None,
            "voice_seed": voice_seed,
        }

        def write(conn: Connection) -> VoiceMapping:
            self._ids.adding(voice_id)
            values["audio_prompt"] = _existing_prompt(conn, prompt) if prompt else None
            now = utc_now()
            _upsert(conn, {"voice_id": voice_id, **values, "created_at": now, "updated_at": now})
            mapping = _select_one(conn, voice_id)
            assert mapping is not None
            return mapping

        mapping = await self._db.run(write)
        self.on_written(mapping.voice_id)
        return mapping

    async def get(self, voice_id: str) -> VoiceMapping | None:
        """The mapping with this id (any case), or None. Invalid ids are simply not found."""
        if not is_valid_voice_id(voice_id):
            return None
        return await self._db.run(lambda conn: _select_one(conn, voice_id))

    async def list(self) -> builtins.list[VoiceMapping]:
        def select_all(conn: Connection) -> builtins.list[VoiceMapping]:
            mappings = [_mapping(row._mapping) for row in conn.execute(_SELECT).all()]
            return sorted(mappings, key=lambda mapping: mapping.voice_id.lower())  # alike in both dialects

        return await self._db.run(select_all)

    async def delete(self, voice_id: str) -> VoiceMapping:
        """Delete the mapping; NotFound (404) when there is none."""
        voice_id = validate_voice_id(voice_id, "voice_id")

        def remove(conn: Connection) -> VoiceMapping:
            mapping = _select_one(conn, voice_id)
            if mapping is None:
                raise NotFound(f"No voice mapping named '{voice_id}'.", param="voice_id")
            conn.execute(delete(voice_mappings).where(id_key(_MAPPINGS.voice_id) == voice_id.lower()))
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


def _upsert(conn: Connection, row: Mapping[str, Any]) -> None:
    """Insert the mapping, or update every field but the id's spelling and created_at. The conflict
    target is the case-insensitive key: the NOCASE primary key in SQLite, lower(voice_id) in PostgreSQL."""
    statement: postgresql.Insert | sqlite.Insert
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(voice_mappings).values(row)
        target: list[Any] = [id_key(_MAPPINGS.voice_id)]
    else:
        statement = sqlite.insert(voice_mappings).values(row)
        target = [_MAPPINGS.voice_id]
    updated = {key: statement.excluded[key] for key in row if key not in ("voice_id", "created_at")}
    conn.execute(statement.on_conflict_do_update(index_elements=target, set_=updated))


def _select_ids(conn: Connection) -> list[str]:
    return list(conn.scalars(select(_MAPPINGS.voice_id)))


def _existing_prompt(conn: Connection, prompt: str) -> str:
    voice = select_voice(conn, prompt)
    if voice is None:
        reason = f"Audio prompt '{prompt}' not found. GET /audio_prompts lists the uploaded prompts."
        raise VoiceNotFound(prompt, param="audio_prompt", reason=reason)
    return voice.voice_id


def _select_one(conn: Connection, voice_id: str) -> VoiceMapping | None:
    row = conn.execute(_SELECT.where(id_key(_MAPPINGS.voice_id) == voice_id.lower())).first()
    return _mapping(row._mapping) if row else None


def _mapping(row: RowMapping) -> VoiceMapping:
    return VoiceMapping(
        voice_id=row["voice_id"],
        style=row["style"],
        primary_speaker=_speaker(row["primary_speaker"]),
        audio_prompt=row["audio_prompt"],
        audio_prompt_transcript=row["audio_prompt_transcript"],
        voice_seed=row["voice_seed"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        broken=bool(row["broken"]),
    )
