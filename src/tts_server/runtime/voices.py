"""Turns the `voice` / `voice_id` a client sends into a VoiceSelection an engine can speak.

Resolution order: voice mappings, then reference voices (S1 references and Dia audio prompts are one
library), then the engine's built-in names. The listings follow the same rule: each name appears once,
as what a request with that name gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tts_server.engines.base import CloningSupport, ReferenceAudio, VoiceSelection
from tts_server.errors import VoiceNotFound
from tts_server.runtime.runners.base import EngineRunner
from tts_server.runtime.voice_service import VoiceService
from tts_server.store.ids import is_valid_voice_id
from tts_server.store.models import StoredVoice, VoiceMapping

VoiceKind = Literal["builtin", "reference", "mapping"]


class VoiceResolver:
    """Resolves names against the voice library (when there is one) and the engine's built-in voices."""

    def __init__(self, default_voice: str, voices: VoiceService | None = None) -> None:
        self._default_voice = default_voice
        self._voices = voices

    async def resolve(
        self, voice_id: str | None, runner: EngineRunner, *, language: str | None = None, param: str = "voice"
    ) -> VoiceSelection:
        """The voice to speak with `runner`; VoiceNotFound (400 INVALID_VOICE_ID) for an unknown name or a
        mapping whose audio prompt was deleted."""
        return (await self.route(voice_id, [runner], language=language, param=param))[1]

    async def route(
        self,
        voice_id: str | None,
        runners: Sequence[EngineRunner],
        *,
        language: str | None = None,
        param: str = "voice",
    ) -> tuple[EngineRunner, VoiceSelection]:
        """The engine and voice for a name: library voices (mappings, references) go to the first runner; a
        built-in name to the first runner that has it."""
        name = (voice_id or self._default_voice).strip()
        first = runners[0]
        if self._voices is not None and is_valid_voice_id(name) and self._voices.may_hold(name):
            mapping = await self._voices.mappings.get(name)
            if mapping is not None:
                return first, await self._from_mapping(self._voices, mapping, name, first, language, param)
            try:
                reference = await self._voices.reference_audio(name, param=param)
            except VoiceNotFound:
                pass  # not a reference voice: maybe a built-in name
            else:
                reference = await self._with_transcript(self._voices, reference, first, param)
                return first, VoiceSelection(voice_id=name, reference=reference, language=language)
        runner = next((runner for runner in runners if runner.has_voice(name.lower())), None)
        if runner is not None:
            return runner, VoiceSelection(voice_id=name, builtin=name.lower(), language=language)
        known = self._voices is None or not is_valid_voice_id(name) or self._voices.may_hold(name)
        if not known and self._voices is not None and await self._voices.learn(name):
            # written a moment ago, on another replica
            return await self.route(voice_id, runners, language=language, param=param)
        raise VoiceNotFound(name, param=param)

    async def _from_mapping(
        self,
        voices: VoiceService,
        mapping: VoiceMapping,
        name: str,
        runner: EngineRunner,
        language: str | None,
        param: str,
    ) -> VoiceSelection:
        selection = VoiceSelection(
            voice_id=name, primary_speaker=mapping.primary_speaker, seed=mapping.voice_seed, language=language
        )
        if mapping.audio_prompt is None:
            # Seed-based: the mapping's own name when the engine knows it, else the default voice.
            builtin = name.lower() if runner.has_voice(name.lower()) else self._default_voice.lower()
            return replace(selection, builtin=builtin)
        try:
            reference = await voices.reference_audio(mapping.audio_prompt, param=param)
        except VoiceNotFound:
            reason = (
                f"Voice mapping '{mapping.voice_id}' uses audio prompt '{mapping.audio_prompt}', which no longer "
                "exists. Upload the prompt again (POST /audio_prompts/upload) or update the mapping."
            )
            raise VoiceNotFound(name, param=param, reason=reason) from None
        reference = await self._with_transcript(voices, _with_mapping_transcript(reference, mapping), runner, param)
        return replace(selection, reference=reference)

    @staticmethod
    async def _with_transcript(
        voices: VoiceService, reference: ReferenceAudio, runner: EngineRunner, param: str
    ) -> ReferenceAudio:
        """Engines that clone fully need the reference's words: transcribe it at first use when possible."""
        if runner.info.capabilities.cloning is not CloningSupport.FULL:
            return reference
        return await voices.with_transcript(reference, param=param)

    async def list_voices(self, runners: Sequence[EngineRunner]) -> list[ListedVoice]:
        """Built-in voices (of each engine in turn: a name an earlier engine has is that engine's), then
        reference voices, then mappings; each name once, as it resolves."""
        runner = runners[0]  # reference voices and mappings are spoken by the first (the default engine)
        if self._voices is None:
            return list_builtin_voices(runners)
        mappings = await self._voices.mappings.list()
        references = await self._voices.library.list()
        taken = {mapping.voice_id.lower() for mapping in mappings}
        listed_references = [_listed_reference(v, runner) for v in references if v.voice_id.lower() not in taken]
        taken |= {voice.voice_id.lower() for voice in listed_references}
        builtins = [voice for voice in list_builtin_voices(runners) if voice.voice_id.lower() not in taken]
        return builtins + listed_references + [_listed_mapping(mapping, runner) for mapping in mappings]


@dataclass(frozen=True, slots=True)
class ListedVoice:
    """A voice as the listings show it."""

    voice_id: str
    name: str
    kind: VoiceKind
    engine: str
    description: str = ""
    language: str | None = None
    gender: str | None = None
    cloning: Literal["none", "approximate", "full"] | None = None
    broken: bool = False


def list_builtin_voices(runners: Sequence[EngineRunner]) -> list[ListedVoice]:
    """Each engine's built-in voices in turn; a name listed by an earlier engine is not listed again."""
    listed: dict[str, ListedVoice] = {}
    for runner in runners:
        for info in runner.voices():
            listed.setdefault(
                info.voice_id.lower(),
                ListedVoice(
                    voice_id=info.voice_id,
                    name=info.name,
                    kind="builtin",
                    engine=runner.info.id,
                    description=info.description,
                    language=info.language,
                    gender=info.gender,
                ),
            )
    return list(listed.values())


def _with_mapping_transcript(reference: ReferenceAudio, mapping: VoiceMapping) -> ReferenceAudio:
    """A mapping's own transcript of its prompt, when it has one, wins over the library's."""
    if mapping.audio_prompt_transcript:
        return replace(reference, transcript=mapping.audio_prompt_transcript)
    return reference


def _listed_reference(voice: StoredVoice, runner: EngineRunner) -> ListedVoice:
    transcript = f': "{_excerpt(voice.transcript)}"' if voice.transcript else ""
    return ListedVoice(
        voice_id=voice.voice_id,
        name=voice.voice_id,
        kind="reference",
        engine=runner.info.id,
        description=f"Reference voice, {voice.duration:.1f} s{transcript}",
        cloning=runner.info.capabilities.cloning.value,
    )


def _listed_mapping(mapping: VoiceMapping, runner: EngineRunner) -> ListedVoice:
    if mapping.audio_prompt is not None:
        basis = f"audio prompt '{mapping.audio_prompt}'" + (" (missing)" if mapping.broken else "")
    else:
        basis = f"seed {mapping.voice_seed}" if mapping.voice_seed is not None else "seed-based"
    return ListedVoice(
        voice_id=mapping.voice_id,
        name=mapping.voice_id,
        kind="mapping",
        engine=runner.info.id,
        description=f"Voice mapping: {mapping.style}, speaker {mapping.primary_speaker}, {basis}",
        cloning=runner.info.capabilities.cloning.value if mapping.audio_prompt is not None else None,
        broken=mapping.broken,
    )


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
