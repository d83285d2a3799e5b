"""A ctypes binding to libespeak-ng (shipped by the `espeakng-loader` wheel): text in, int16 samples out.

Only the handful of calls the engine needs. The library keeps global state and is not thread-safe, so
one `EspeakLibrary` per process, used from one thread at a time.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 22_050

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # the callback gets the samples; espeak_Synth returns when done
_INITIALIZE_DONT_EXIT = 0x8000  # report data errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # the natural pause after the last clause, which separates our sentence chunks
_CALLBACK_MS = 500  # audio per callback; larger means fewer Python calls per sentence
_PHONEMES_IPA = 0x02  # espeak_TextToPhonemes: IPA (UTF-8) rather than espeak's ASCII phoneme names
_PHONEMES_TIE = 0x80  # ... with the character in bits 8-23 tying the letters of one phoneme ("t͡ʃ")


class Parameter(IntEnum):
    """espeak_PARAMETER values used here."""

    RATE = 1  # words per minute
    VOLUME = 2
    PITCH = 3  # 0-100, 50 is the voice's own pitch
    RANGE = 4  # 0-100, intonation range; 0 is monotone
    WORDGAP = 7  # extra pause between words, in units of 10 ms at the default rate


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class PhonemeClause:
    """One clause as espeak phonemizes it: IPA phonemes (words separated by spaces), and the text it read,
    up to and including the punctuation and spaces that ended the clause."""

    phonemes: str
    text: str
    last: bool  # the end of the input


class EspeakLibrary:
    """libespeak-ng initialised in synchronous mode, with a callback that collects the samples."""

    # The C library holds one callback and one voice per process. Were a second instance made (tests
    # do), the instance about to speak re-installs its own callback and forgets its cached voice.
    _owner: ClassVar[EspeakLibrary | None] = None

    def __init__(self, library_path: str | Path, data_path: str | Path) -> None:
        try:
            self._lib = ctypes.CDLL(str(library_path))
        except OSError as exc:
            raise EspeakError(f"cannot load {library_path}: {exc}") from exc
        self._declare()
        # The data path must be given: the compiled-in default points at the wheel's build machine.
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _CALLBACK_MS, str(data_path).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate != SAMPLE_RATE:
            raise EspeakError(f"espeak_Initialize with data at {data_path} returned {rate}")
        self._parts: list[bytes] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced: the library holds the pointer
        self._voice: str | None = None
        self._claim()

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: object) -> int:
        if count > 0 and wav:
            self._parts.append(ctypes.string_at(wav, count * 2))
        return 0  # 0: continue synthesising

    def _claim(self) -> None:
        if EspeakLibrary._owner is not self:
            self._lib.espeak_SetSynthCallback(self._callback)
            self._voice = None
            EspeakLibrary._owner = self

    def set_voice(self, name: str) -> None:
        """Select a voice such as "gmw/en-US+klatt4"; a no-op when it is already selected (selecting
        one costs about 0.3 ms, a fifth of a short sentence's synthesis)."""
        self._claim()
        if name == self._voice:
            return
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise EspeakError(f"espeak has no voice {name!r}")
        self._voice = name

    def set_parameter(self, parameter: Parameter, value: int) -> None:
        if self._lib.espeak_SetParameter(int(parameter), int(value), 0) != 0:
            raise EspeakError(f"espeak refused {parameter.name}={value}")

    def synthesize(self, text: str) -> NDArray[np.int16]:
        """Speak `text` with the current voice and parameters; returns mono int16 at SAMPLE_RATE."""
        self._claim()
        data = text.encode("utf-8")
        self._parts.clear()
        result = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        if result != 0:
            raise EspeakError(f"espeak_Synth failed with code {result}")
        samples = np.frombuffer(b"".join(self._parts), dtype=np.int16)
        self._parts.clear()
        return samples

    def phonemize_as(self, voice: str, text: str, tie: str | None = None) -> list[PhonemeClause]:
        """IPA phonemes of `text` in `voice` (e.g. "en-us"), clause by clause (espeak_TextToPhonemes).

        `tie`, when given, joins the letters of one phoneme ("t^ʃ" for tie "^"). Neural voices trained on
        espeak's phonemes (Piper, Kokoro) read these. The library reads one character past each clause;
        `PhonemeClause.text` gives that character back to the clause it belongs to."""
        self.set_voice(voice)
        mode = _PHONEMES_IPA | ((_PHONEMES_TIE | ord(tie) << 8) if tie else 0)
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        start_address = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(start_address)
        clauses: list[PhonemeClause] = []
        start = 0
        while pointer.value is not None and start < len(data):
            phonemes = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, mode)
            last = pointer.value is None
            # The next clause starts one character before where the library stopped reading.
            end = len(data) if last else _previous_character(data, pointer.value - start_address)
            found = (phonemes or b"").decode("utf-8", errors="replace")
            clauses.append(PhonemeClause(found, _text(data, start, end), last))
            start = end
        return clauses


def _previous_character(data: bytes, offset: int) -> int:
    """The offset of the UTF-8 character that ends just before `offset`."""
    offset -= 1
    while offset > 0 and data[offset] & 0xC0 == 0x80:  # a continuation byte: step back to the lead byte
        offset -= 1
    return offset


def _text(data: bytes, start: int, end: int) -> str:
    return data[start:end].decode("utf-8", errors="replace")
