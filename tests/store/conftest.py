"""Store fixtures: a real database (a SQLite file, and a PostgreSQL database: every store test runs on
both) and a real audio_prompts/ directory under tmp_path."""

from __future__ import annotations

import hashlib
import io
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import create_engine, inspect, select, table, text

from tests.support.signals import harmonic_tone
from tts_server.store.database import Database, database_url
from tts_server.store.mappings import VoiceMappings
from tts_server.store.voices import AUDIO_DIR, VoiceLibrary

MAX_UPLOAD_BYTES = 512 * 1024
MAX_SECONDS = 5.0

Snapshot = tuple[dict[str, str], dict[str, list[tuple[Any, ...]]]]


def wav_bytes(samples: NDArray[np.float32], rate: int, channels: int = 1) -> bytes:
    """PCM16 WAV written with the stdlib, independent of the server's encoder."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    interleaved = np.repeat(pcm, channels) if channels > 1 else pcm
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(interleaved.tobytes())
    return buffer.getvalue()


def voice_wav(seconds: float = 2.0, rate: int = 24_000, f0: float = 140.0, channels: int = 1) -> bytes:
    return wav_bytes(harmonic_tone(f0, seconds, rate), rate, channels)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_wav(path: Path) -> tuple[int, int, int, int]:
    """(channels, sample width, rate, frames) of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()


def query(data_dir: Path, url: str | None, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql`, read with a connection of its own (not the store's)."""
    engine = create_engine(database_url(data_dir, url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def snapshot(data_dir: Path, url: str | None = None) -> Snapshot:
    """Every file under audio_prompts/ (name -> hash) and every row of the store's tables (of the SQLite
    file in `data_dir` unless `url` names another database)."""
    audio_dir = data_dir / AUDIO_DIR
    files = {
        path.relative_to(audio_dir).as_posix(): sha256(path.read_bytes())
        for path in sorted(audio_dir.rglob("*"))
        if path.is_file()
    }
    engine = create_engine(database_url(data_dir, url))
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            rows = {
                name: sorted(tuple(row) for row in conn.execute(select(text("*")).select_from(table(name))))
                for name in names
            }
    finally:
        engine.dispose()
    return files, rows


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


OpenStore = Callable[[], tuple[Database, VoiceLibrary, VoiceMappings]]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """None: the SQLite file in the data dir; else the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_store(data_dir: Path, db_url: str | None) -> Iterator[OpenStore]:
    """Open the store on `data_dir` (again and again, as a restarted server would); closes them all."""
    opened: list[Database] = []

    def open_() -> tuple[Database, VoiceLibrary, VoiceMappings]:
        db = Database.open(data_dir, db_url)
        opened.append(db)
        library = VoiceLibrary(data_dir, db, max_upload_bytes=MAX_UPLOAD_BYTES, max_seconds=MAX_SECONDS)
        return db, library, VoiceMappings(db)

    yield open_
    for db in opened:
        db.close()


@pytest.fixture
def store(open_store: OpenStore) -> tuple[Database, VoiceLibrary, VoiceMappings]:
    return open_store()


@pytest.fixture
def library(store: tuple[Database, VoiceLibrary, VoiceMappings]) -> VoiceLibrary:
    return store[1]


@pytest.fixture
def mappings(store: tuple[Database, VoiceLibrary, VoiceMappings]) -> VoiceMappings:
    return store[2]
