"""The built-in engine approximates a reference voice: its output's pitch moves toward the reference's."""

from __future__ import annotations

import httpx

from tests.voices.conftest import add_reference, speak_wav, tone_voice, upload_prompt
from tts_server.audio.effects import median_pitch_hz


async def test_output_pitch_follows_the_reference_pitch(client: httpx.AsyncClient) -> None:
    low_reference, high_reference = tone_voice(110.0), tone_voice(240.0)
    assert abs((median_pitch_hz_of(low_reference) or 0) - 110) < 10  # the references are what they claim
    assert abs((median_pitch_hz_of(high_reference) or 0) - 240) < 15

    text = "One two three four five six seven eight."
    assert (await add_reference(client, "low_voice", low_reference, text=text)).status_code == 200
    assert (await upload_prompt(client, "high_voice", high_reference, transcript=text)).status_code == 200

    low = await speak_wav(client, "low_voice")
    high = await speak_wav(client, "high_voice")
    low_hz = median_pitch_hz(low.samples, low.sample_rate)
    high_hz = median_pitch_hz(high.samples, high.sample_rate)
    assert low_hz is not None and high_hz is not None
    assert high_hz > 1.5 * low_hz, (low_hz, high_hz)
    assert abs(low_hz - 110) < abs(low_hz - 240)
    assert abs(high_hz - 240) < abs(high_hz - 110)


def median_pitch_hz_of(wav: bytes) -> float | None:
    from tests.support.audio import decode_bytes

    decoded = decode_bytes(wav)
    return median_pitch_hz(decoded.samples, decoded.sample_rate)
