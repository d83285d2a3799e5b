"""Bad input through HTTP: bad ids, unusable audio, too large uploads. Each is refused with the error
envelope, writes nothing, and leaves earlier voices intact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import make_settings, uvicorn_server
from tests.support.signals import noise
from tests.voices.conftest import (
    RunApp,
    add_reference,
    assert_error,
    snapshot,
    speak_wav,
    upload_prompt,
    voice_wav,
    wav_bytes,
)
from tts_server.audio.encode import AudioFormat, encode_audio

BAD_IDS = [
    "my.voice",
    "a/b",
    "..",
    "../escape",
    "with space",
    "tab\there",
    "new\nline",
    "nul\x00byte",
    "x" * 65,
    "",
    "ünïcödé",
]


@pytest.fixture
async def seeded(client: httpx.AsyncClient, data_dir: Path) -> httpx.AsyncClient:
    """A library with one voice of each view and a mapping, which every bad request must leave alone."""
    assert (await add_reference(client, "keeper", voice_wav(), text="Keep me.")).status_code == 200
    assert (await upload_prompt(client, "prompt", voice_wav(seconds=3.0), transcript="Me too.")).status_code == 200
    assert (
        await client.post("/voice_mappings", json={"voice_id": "mapped", "audio_prompt": "prompt"})
    ).status_code == 200
    return client


async def test_bad_ids_are_refused_and_write_nothing(seeded: httpx.AsyncClient, data_dir: Path) -> None:
    before = snapshot(data_dir)
    for bad_id in BAD_IDS:
        for response in (
            await add_reference(seeded, bad_id, voice_wav()),
            await upload_prompt(seeded, bad_id, voice_wav()),
            await upload_prompt(seeded, bad_id, voice_wav(), prefix="/v1"),
        ):
            if bad_id == "":  # an empty form field counts as missing
                assert_error(response, 422, "VALIDATION_ERROR")
            else:
                assert_error(response, 400, "INVALID_ID")
                assert repr(bad_id)[1:-1] in response.json()["detail"] or len(bad_id) > 64
    assert snapshot(data_dir) == before
    assert not list(data_dir.parent.glob("*.wav")) and not list(data_dir.glob("*.wav"))
    await speak_wav(seeded, "mapped")


# A bare ".." never reaches the server (clients resolve it in the URL), but its escaped form does. An escaped
# slash splits the path, so no route matches: 404, and nothing is touched either way.
@pytest.mark.parametrize(
    ("bad_id", "status", "code"),
    [
        ("my.voice", 400, "INVALID_ID"),
        ("with space", 400, "INVALID_ID"),
        ("%2E%2E", 400, "INVALID_ID"),
        ("x" * 65, 400, "INVALID_ID"),
        ("a%2Fb", 404, "NOT_FOUND"),
    ],
)
async def test_bad_ids_in_paths_are_refused(
    seeded: httpx.AsyncClient, data_dir: Path, bad_id: str, status: int, code: str
) -> None:
    before = snapshot(data_dir)
    for method, path in (
        ("DELETE", f"/v1/references/{bad_id}"),
        ("DELETE", f"/audio_prompts/{bad_id}"),
        ("GET", f"/audio_prompts/metadata/{bad_id}"),
        ("DELETE", f"/voice_mappings/{bad_id}"),
    ):
        assert_error(await seeded.request(method, path), status, code)
    assert snapshot(data_dir) == before


def _silence(seconds: float) -> bytes:
    return wav_bytes(np.zeros(round(seconds * 24_000), dtype=np.float32), 24_000)


BAD_AUDIO = {
    "garbage": b"this is not audio, just some text pretending to be a file" * 50,
    "empty": b"",
    "silent": _silence(3.0),
    "too_short": voice_wav(seconds=0.5),
    "too_long": voice_wav(seconds=6.0),
    "png_header": b"\x89PNG\r\n\x1a\n" + bytes(2000),
    "truncated_wav": voice_wav(seconds=2.0)[:30],
}


async def test_unusable_audio_is_400_and_writes_nothing(run_app: RunApp, data_dir: Path) -> None:
    async with run_app(max_prompt_seconds=5) as app:
        client = app.client
        assert (await upload_prompt(client, "prompt", voice_wav(seconds=3.0), transcript="Me too.")).status_code == 200
        before = snapshot(data_dir)
        for kind, audio in BAD_AUDIO.items():
            for response in (
                await add_reference(client, "newcomer", audio),
                await add_reference(client, "prompt", audio, overwrite=True),
                await upload_prompt(client, "prompt", audio),  # a failed replacement keeps the old prompt
                await upload_prompt(client, "newcomer", audio, prefix="/v1"),
            ):
                assert response.status_code == 400, (kind, response.text)
                assert_error(response, 400, "AUDIO_PROCESSING_ERROR")
        assert snapshot(data_dir) == before
        metadata = (await client.get("/audio_prompts/metadata/prompt")).json()
        assert (round(metadata["duration"]), metadata["transcript"]) == (3, "Me too.")
        await speak_wav(client, "prompt")


@pytest.mark.parametrize("fmt", [AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.FLAC, AudioFormat.AAC])
async def test_compressed_uploads_are_accepted(client: httpx.AsyncClient, fmt: AudioFormat) -> None:
    samples = (
        noise(2.0, 24_000, amplitude=0.05)
        + np.sin(2 * np.pi * 150 * np.arange(48_000) / 24_000).astype(np.float32) * 0.3
    )
    encoded = encode_audio(samples.astype(np.float32), 24_000, fmt, 24_000)
    response = await upload_prompt(client, f"from_{fmt.value}", encoded, filename=f"voice.{fmt.value}")
    assert response.status_code == 200, response.text
    assert abs(response.json()["duration"] - 2.0) < 0.1


async def test_too_large_upload_is_413_and_writes_nothing(run_app: RunApp, data_dir: Path) -> None:
    async with run_app(max_upload_mb=0.25) as app:
        client = app.client
        assert (await upload_prompt(client, "prompt", voice_wav(seconds=2.0), transcript="Small.")).status_code == 200
        before = snapshot(data_dir)
        big = voice_wav(seconds=8.0, rate=24_000)  # ~384 KB of WAV, over the 256 KB limit
        for response in (
            await add_reference(client, "big", big),
            await upload_prompt(client, "prompt", big),
            await upload_prompt(client, "big", big, prefix="/v1"),
        ):
            body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
            assert "0.25 MB" in body["detail"]
        assert snapshot(data_dir) == before


async def test_an_oversized_body_is_cut_off_while_it_arrives(run_app: RunApp, data_dir: Path) -> None:
    """A chunked upload with no Content-Length: the server stops reading soon after the limit."""
    chunk = bytes(64 * 1024)
    total_chunks = 200  # 12.5 MB offered against a 0.25 MB limit
    sent = 0
    boundary = "limitboundary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="prompt_id"\r\n\r\nhuge\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio_file"; filename="huge.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        for _ in range(total_chunks):
            sent += 1
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    async with run_app(max_upload_mb=0.25) as app:
        before = snapshot(data_dir)
        response = await app.client.post(
            "/audio_prompts/upload",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        # the limit plus the form allowance is 1.25 MB: 20 chunks; nothing beyond was pulled
        assert sent <= 22, sent
        assert snapshot(data_dir) == before


async def test_a_declared_oversized_body_is_refused_before_reading(run_app: RunApp) -> None:
    pulled = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled = True
        yield b"x"

    async with run_app(max_upload_mb=0.25) as app:
        response = await app.client.post(
            "/v1/references/add",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(50 * 1024 * 1024)},
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert not pulled


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("DELETE", "/v1/references/nobody"),
        ("DELETE", "/audio_prompts/nobody"),
        ("DELETE", "/v1/audio_prompts/nobody"),
        ("GET", "/audio_prompts/metadata/nobody"),
        ("GET", "/v1/audio_prompts/metadata/nobody"),
        ("DELETE", "/voice_mappings/nobody"),
        ("DELETE", "/v1/voice_mappings/nobody"),
    ):
        assert_error(await client.request(method, path), 404, "NOT_FOUND")
    speech = await client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "nobody"})
    assert_error(speech, 400, "INVALID_VOICE_ID")


async def test_a_missing_file_field_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/audio_prompts/upload", data={"prompt_id": "nofile"})
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_oversized_uploads_over_real_http_get_413(tmp_path: Path) -> None:
    """Through uvicorn: a declared and a chunked oversized upload both get the 413 envelope, and the
    server stays healthy."""
    data_dir = tmp_path / "served"
    data_dir.mkdir()

    async def chunked() -> AsyncIterator[bytes]:
        yield (
            b'--bb\r\nContent-Disposition: form-data; name="prompt_id"\r\n\r\nbig\r\n'
            b'--bb\r\nContent-Disposition: form-data; name="audio_file"; filename="big.wav"\r\n\r\n'
        )
        for _ in range(400):  # 25 MB
            yield bytes(64 * 1024)
        yield b"\r\n--bb--\r\n"

    with uvicorn_server(make_settings(data_dir, max_upload_mb=0.25)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            declared = await upload_prompt(client, "big", bytes(8 * 1024 * 1024))
            assert_error(declared, 413, "PAYLOAD_TOO_LARGE")
            streamed = await client.post(
                "/v1/audio_prompts/upload",
                content=chunked(),
                headers={"content-type": "multipart/form-data; boundary=bb"},
            )
            assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")
            assert (await client.get("/health")).json()["status"] == "healthy"
            assert (await client.get("/audio_prompts")).json() == {"audio_prompts": []}
