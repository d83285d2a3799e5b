"""The engine contract: what every speech engine offers, with no HTTP and no asyncio in it.

An `Engine` lives inside one worker (a process for espeak, a thread for Dia) and is only ever
called from that worker. The async side of the server talks to it through an `EngineRunner`
(tts_server.runtime.runners.base), which owns the workers, admission and cancellation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from tts_server.audio.samples import Samples

Speaker = Literal["S1", "S2"]

_Frozen = TypeVar("_Frozen")


def pickled_by_constructor(cls: type[_Frozen]) -> type[_Frozen]:
    """Pickle a frozen dataclass as a constructor call with its field values.

    Every synthesis request crosses to a worker process pickled. The default for a frozen slotted
    dataclass is a state list built field by field and set back with object.__setattr__: 6.5 us to
    dump a SynthesisRequest and 7.6 us to load it; as a constructor call, 3.1 and 4.0 us.
    """
    declared = fields(cls)  # type: ignore[arg-type]
    if not all(item.init for item in declared):
        raise TypeError(f"{cls.__name__}: every field must be a constructor argument")
    names = [item.name for item in declared]
    values = attrgetter(*names)

    def __reduce__(self: Any) -> tuple[type[_Frozen], tuple[Any, ...]]:
        found = values(self)
        return cls, found if len(names) > 1 else (found,)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


class CloningSupport(StrEnum):
    """How an engine uses a reference voice."""

    NONE = "none"
    APPROXIMATE = "approximate"  # matches pitch/rate of the reference, does not clone timbre
    FULL = "full"  # conditions generation on the reference audio and transcript


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    streaming: bool
    cloning: CloningSupport
    native_speed: bool  # applies SynthesisRequest.speed itself; else the service time-stretches
    speaker_tags: bool  # performs [S1]/[S2] turns and non-verbal tags like (laughs)
    sampling_params: frozenset[str] = frozenset()  # SamplingParams fields the engine honours


@dataclass(frozen=True, slots=True)
class EngineInfo:
    id: str  # the `model` id clients send, e.g. "espeak", "dia"
    name: str
    sample_rate: int
    capabilities: EngineCapabilities
    device: str = "cpu"


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of mono audio: float32 in [-1, 1], or int16 from an engine that makes 16-bit audio
    (passed on untouched; see tts_server.audio.samples)."""

    samples: Samples
    sample_rate: int
    progress: float | None = None  # fraction of the request done once this chunk is out (0-1), when known

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@pickled_by_constructor
@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Sampling knobs from every API family; None means the engine's default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    cfg_scale: float | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    use_torch_compile: bool | None = None


@pickled_by_constructor
@dataclass(frozen=True, slots=True)
class ReferenceAudio:
    """A stored reference voice, as an engine needs it. Derived features are cached by content_hash."""

    voice_id: str
    audio_path: Path
    transcript: str
    content_hash: str
    duration: float
    sample_rate: int


@pickled_by_constructor
@dataclass(frozen=True, slots=True)
class VoiceSelection:
    """A voice resolved from what the client asked for (mapping, reference or built-in name)."""

    voice_id: str  # as the client named it
    builtin: str | None = None  # engine built-in voice name, when the voice is (or falls back to) one
    reference: ReferenceAudio | None = None
    primary_speaker: Speaker = "S1"
    seed: int | None = None  # seed-based voices (Dia): fixes the timbre
    language: str | None = None  # BCP-47-ish language code (e.g. "de", "en-gb")


@pickled_by_constructor
@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    text: str  # validated, not yet normalised (engines call normalize_text per chunk, in their worker)
    voice: VoiceSelection
    speed: float = 1.0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    instructions: str | None = None
    request_id: str = ""
    max_chunk_chars: int | None = None  # preferred text chunk size for engines that split text


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    voice_id: str
    name: str
    description: str = ""
    gender: str | None = None
    language: str = "en"


class CancelToken:
    """Set by the runner when the client went away; engines check it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class Engine(Protocol):
    """A speech engine as its worker sees it."""

    info: EngineInfo

    def load(self) -> None:
        """Load weights / libraries. Raises EngineLoadError with a message for users on failure."""

    def voices(self) -> Sequence[VoiceInfo]:
        """The built-in voices, in listing order."""

    def has_voice(self, name: str) -> bool:
        """True when `name` is a built-in voice (or a language voice) this engine can speak."""

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        """Yield audio as it is made; stop early once `cancel.cancelled` is set."""


class EngineLoadError(RuntimeError):
    """An engine could not load; the message says what was missing and how to get it."""


class EngineOutOfMemory(RuntimeError):
    """The accelerator ran out of memory for this request; the engine itself stays usable."""
