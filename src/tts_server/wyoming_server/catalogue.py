"""Voices as Wyoming names them: the Info answer to `describe`, and a voice name back to (engine, voice).

Home Assistant uses only the first TTS program a server describes, so there is one program with every voice
of every engine that runs. Names must be unique across engines: the default engine's voices keep the names
the HTTP API gives them ("alloy", a reference voice's id), and those of other engines carry the engine id
("espeak:alloy"). A saved plain name therefore follows the default engine, as `model: "default"` does over
HTTP, while a qualified name stays with its engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker

from tts_server import __version__
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.voices import ListedVoice, VoiceResolver

ENGINE_SEPARATOR = ":"  # never part of a voice id (store/ids.py) or an engine's own voice name
PROGRAM_NAME = "tts-server"
SPEAKERS = ("S1", "S2")  # the speakers of engines that perform [S1]/[S2] dialogue (Dia)
_PROJECT = Attribution(name="tts-server", url="")
_ENGINE_HOMES = {
    "espeak": "https://github.com/espeak-ng/espeak-ng",
    "dia": "https://github.com/nari-labs/dia",
    "piper": "https://github.com/rhasspy/piper",
    "kokoro": "https://huggingface.co/hexgrad/Kokoro-82M",
    "s1-mini": "https://huggingface.co/fishaudio/openaudio-s1-mini",
}
_SPEAKING = (RunnerState.READY, RunnerState.LOADING)  # a loading engine's voices speak once it is ready


@dataclass(frozen=True, slots=True)
class VoiceTarget:
    """What a Wyoming voice name asks for, in the terms of the HTTP API (None: the default)."""

    model: str | None
    voice: str | None


def parse_voice_name(name: str | None) -> VoiceTarget:
    """`espeak:alloy` -> (espeak, alloy); `alloy` -> (default engine, alloy); None -> both defaults."""
    if not name or not name.strip():
        return VoiceTarget(None, None)
    engine, separator, voice = name.strip().partition(ENGINE_SEPARATOR)
    if not separator:
        return VoiceTarget(None, engine)
    return VoiceTarget(engine, voice or None)


class VoiceCatalogue:
    """Builds the Info that answers `describe`, from the same listings the HTTP API serves."""

    def __init__(self, engines: EngineRegistry, voices: VoiceResolver) -> None:
        self._engines = engines
        self._voices = voices

    async def info(self) -> Info:
        default = self._engines.default
        voices: list[TtsVoice] = []
        for runner in self._speaking_engines():
            prefix = "" if runner is default else runner.info.id + ENGINE_SEPARATOR
            voices.extend(_tts_voice(voice, prefix, runner) for voice in await self._voices.list_voices([runner]))
        engines = ", ".join(runner.info.id for runner in self._speaking_engines())
        program = TtsProgram(
            name=PROGRAM_NAME,
            attribution=_PROJECT,
            installed=True,
            description=f"tts-server {__version__} (engines: {engines}; default: {default.info.id})",
            version=__version__,
            voices=voices,
            supports_synthesize_streaming=True,
        )
        return Info(tts=[program])

    def _speaking_engines(self) -> list[EngineRunner]:
        default = self._engines.default
        others = [runner for runner in self._engines if runner is not default and runner.state in _SPEAKING]
        return [default, *others]


def _tts_voice(voice: ListedVoice, prefix: str, runner: EngineRunner) -> TtsVoice:
    engine = runner.info
    # Home Assistant shows the description (else the name) in its voice picker: say what and which engine.
    detail = f" - {voice.description}" if voice.description else ""
    return TtsVoice(
        name=prefix + voice.voice_id,
        attribution=Attribution(name=engine.name, url=_ENGINE_HOMES.get(engine.id, "")),
        installed=True,
        description=f"{voice.name} ({engine.id}){detail}",
        version=None,
        languages=[voice.language or _engine_language(runner)],
        speakers=[TtsVoiceSpeaker(name=speaker) for speaker in SPEAKERS] if engine.capabilities.speaker_tags else None,
    )


def _engine_language(runner: EngineRunner) -> str:
    """The language a reference voice or a mapping speaks in: that of the engine's first built-in voice."""
    builtins = runner.voices()
    return builtins[0].language if builtins else "en"
