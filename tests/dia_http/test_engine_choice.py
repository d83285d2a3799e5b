"""Two engines at once (Dia by default, espeak beside it), as the playground sees them: the capabilities each
model card carries, each engine's own voices, and /generate reaching the engine its `model` names."""

from __future__ import annotations

from tests.dia_http.conftest import RATE, DiaApp, RequestSpy, samples_for
from tests.support.audio import decode_bytes
from tts_server.engines.dia.loading import SAMPLING_PARAMS


async def test_model_cards_say_which_sampling_fields_each_engine_honours(dia: DiaApp) -> None:
    cards = {card["id"]: card for card in (await dia.client.get("/v1/models")).json()["data"]}
    assert cards["dia"]["capabilities"]["sampling_params"] == sorted(SAMPLING_PARAMS)
    assert {"temperature", "top_p", "top_k", "cfg_scale", "seed"} <= set(
        cards["dia"]["capabilities"]["sampling_params"]
    )
    assert cards["dia"]["capabilities"]["cloning"] == "full" and cards["dia"]["capabilities"]["speaker_tags"]
    assert cards["espeak"]["capabilities"]["sampling_params"] == []
    assert cards["tts-1"]["engine"] == "dia"  # aliases mean the default engine


async def test_each_engine_lists_its_own_builtin_voices(dia: DiaApp) -> None:
    by_engine = {}
    for engine in ("dia", "espeak"):
        response = await dia.client.get("/v1/voices", params={"engine": engine})
        assert response.status_code == 200
        builtins = [voice for voice in response.json()["voices"] if voice["type"] == "builtin"]
        assert {voice["engine"] for voice in builtins} == {engine}
        by_engine[engine] = {voice["voice_id"] for voice in builtins}
    assert "aria" in by_engine["dia"] and "en-gb" in by_engine["espeak"]
    assert "en-gb" not in by_engine["dia"]
    default = {voice["voice_id"]: voice["engine"] for voice in (await dia.client.get("/v1/voices")).json()["voices"]}
    # Without `engine`: the default engine's voices, then those only another engine has (as they route).
    assert all(default[name] == "dia" for name in by_engine["dia"])
    assert default["en-gb"] == "espeak"


async def test_generate_speaks_on_the_engine_model_names(dia: DiaApp) -> None:
    with RequestSpy(dia.runner) as spy:
        on_espeak = await dia.client.post("/generate", json={"text": "Hello.", "model": "espeak", "voice_id": "en-gb"})
        assert on_espeak.status_code == 200 and on_espeak.headers["X-TTS-Engine"] == "espeak"
        assert not spy.requests  # Dia never saw it

        body = {"text": "Hello.", "model": "dia", "voice_id": "aria", "top_k": 7, "cfg_scale": 2.0, "seed": 3}
        on_dia = await dia.client.post("/generate", json=body)
        assert on_dia.status_code == 200 and on_dia.headers["X-TTS-Engine"] == "dia"
        decoded = decode_bytes(on_dia.content)
        assert decoded.sample_rate == RATE and len(decoded.samples) == samples_for(1)
        sampling = spy.last.sampling
        assert (sampling.top_k, sampling.cfg_scale, sampling.seed) == (7, 2.0, 3)
