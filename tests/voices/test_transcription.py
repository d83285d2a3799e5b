"""The auto-transcription seam (Whisper plugs in as AppState.transcriber): used when a voice comes without a
transcript and auto_transcribe is on; a failing recogniser never fails an upload."""

from __future__ import annotations

from pathlib import Path

from tests.voices.conftest import RunApp, add_reference, upload_prompt, voice_wav


class FakeTranscriber:
    """Stands in for Whisper (no model can be downloaded here): records what it was asked to transcribe."""

    def __init__(self, text: str = "heard words", error: Exception | None = None) -> None:
        self.text = text
        self.error = error
        self.calls: list[Path] = []

    async def __call__(self, wav_path: Path) -> str:
        self.calls.append(wav_path)
        assert wav_path.is_file() and wav_path.suffix == ".wav"
        if self.error is not None:
            raise self.error
        return self.text


async def test_upload_without_transcript_is_transcribed(run_app: RunApp) -> None:
    transcriber = FakeTranscriber("Hello from whisper.")
    async with run_app(auto_transcribe=True) as app:
        app.state.transcriber = transcriber
        uploaded = (await upload_prompt(app.client, "auto", voice_wav())).json()
        assert (uploaded["transcript"], uploaded["transcript_source"]) == ("Hello from whisper.", "whisper_auto")
        assert uploaded["warning"] is None
        assert [path.name for path in transcriber.calls] == ["auto.wav"]
        added = (await add_reference(app.client, "ref_auto", voice_wav())).json()
        assert (added["text"], added["transcript_source"]) == ("Hello from whisper.", "whisper_auto")


async def test_a_given_transcript_is_never_replaced(run_app: RunApp) -> None:
    transcriber = FakeTranscriber()
    async with run_app(auto_transcribe=True) as app:
        app.state.transcriber = transcriber
        uploaded = (await upload_prompt(app.client, "manual", voice_wav(), transcript="My own words.")).json()
        assert (uploaded["transcript"], uploaded["transcript_source"]) == ("My own words.", "manual")
        discovered = (await app.client.post("/audio_prompts/discover", json={"force_retranscribe": False})).json()
        assert discovered["discovered"] == []
        assert transcriber.calls == []
        metadata = (await app.client.get("/audio_prompts/metadata/manual")).json()
        assert (metadata["transcript"], metadata["transcript_source"]) == ("My own words.", "manual")


async def test_force_retranscribe_replaces_even_manual_transcripts(run_app: RunApp) -> None:
    transcriber = FakeTranscriber("Freshly heard.")
    async with run_app(auto_transcribe=True) as app:
        await upload_prompt(app.client, "manual", voice_wav(), transcript="My own words.")
        app.state.transcriber = transcriber
        response = await app.client.post("/v1/audio_prompts/discover", json={"force_retranscribe": True})
        assert response.status_code == 200, response.text
        assert [(d["prompt_id"], d["transcript"], d["transcript_source"]) for d in response.json()["discovered"]] == [
            ("manual", "Freshly heard.", "whisper_auto")
        ]


async def test_failing_transcription_keeps_the_upload_and_warns(run_app: RunApp) -> None:
    transcriber = FakeTranscriber(error=RuntimeError("decoder exploded"))
    async with run_app(auto_transcribe=True) as app:
        app.state.transcriber = transcriber
        response = await upload_prompt(app.client, "unlucky", voice_wav())
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["transcript"], body["transcript_source"]) == ("", "none")
        assert "decoder exploded" in body["warning"]
        assert (await app.client.get("/audio_prompts/metadata/unlucky")).json()["transcript_source"] == "none"

        discovered = (await app.client.post("/audio_prompts/discover")).json()
        assert any("decoder exploded" in warning for warning in discovered["warnings"])


async def test_without_a_usable_whisper_model_uploads_still_succeed(run_app: RunApp) -> None:
    async with run_app(auto_transcribe=True) as app:  # the tests' settings name a Whisper file that does not exist
        response = await add_reference(app.client, "no_model", voice_wav())
        assert response.status_code == 200, response.text
        assert (response.json()["transcript_source"], bool(response.json()["warning"])) == ("none", True)


async def test_no_transcriber_or_auto_transcribe_off(run_app: RunApp) -> None:
    async with run_app(auto_transcribe=True) as app:  # on, but nothing to transcribe with
        app.state.transcriber = None
        body = (await upload_prompt(app.client, "silent_partner", voice_wav())).json()
        assert body["transcript_source"] == "none"
        assert "No transcriber" in body["warning"]
    transcriber = FakeTranscriber()
    async with run_app(auto_transcribe=False) as app:
        app.state.transcriber = transcriber
        body = (await upload_prompt(app.client, "quiet", voice_wav())).json()
        assert (body["transcript_source"], body["warning"]) == ("none", None)
        assert transcriber.calls == []
