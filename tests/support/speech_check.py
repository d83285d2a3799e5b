"""Is this audio the requested words? An offline intelligibility check for tests.

Free transcription of espeak output is poor, so the decoder is restricted to a JSGF grammar whose only
sentences are the candidates, and asked which one was said (see engineering-notes.md). Silence and
noise give no hypothesis, so the answer is then None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np
from numpy.typing import NDArray
from pocketsphinx import Decoder

DECODER_RATE = 16_000
_SEARCH = "candidates"


@cache
def _decoder() -> Decoder:
    # Loading the bundled acoustic model and dictionary takes a few hundred ms: do it once per process.
    return Decoder(lm=None, samprate=DECODER_RATE, loglevel="FATAL")


def _words(sentence: str) -> list[str]:
    return re.findall(r"[a-z']+", sentence.lower())


def _grammar(decoder: Decoder, candidates: Sequence[str]) -> str:
    alternatives = []
    for sentence in candidates:
        words = _words(sentence)
        unknown = [word for word in words if decoder.lookup_word(word) is None]
        if not words or unknown:
            raise ValueError(f"candidate {sentence!r} has words the recogniser does not know: {unknown}")
        alternatives.append("( " + " ".join(words) + " )")
    return "#JSGF V1.0;\ngrammar candidates;\npublic <sentence> = " + " | ".join(alternatives) + ";\n"


def _resample(samples: NDArray[np.float32], rate: int, target: int) -> NDArray[np.float32]:
    """Band-limited resampling through the spectrum: exact enough for a recogniser, numpy only."""
    if rate == target or len(samples) == 0:
        return samples
    n_out = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    out = np.fft.irfft(spectrum[: n_out // 2 + 1], n_out) * (n_out / len(samples))
    return out.astype(np.float32)


def _to_pcm16(samples: NDArray[np.float32]) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def pick_spoken_sentence(samples: NDArray[np.float32], sample_rate: int, candidates: Sequence[str]) -> str | None:
    """The candidate sentence the audio says, or None when it says none of them (silence, noise)."""
    decoder = _decoder()
    decoder.add_jsgf_string(_SEARCH, _grammar(decoder, candidates))
    decoder.activate_search(_SEARCH)
    # A little silence either side helps the recogniser find the utterance boundaries.
    pad = np.zeros(DECODER_RATE // 4, dtype=np.float32)
    audio = np.concatenate([pad, _resample(np.asarray(samples, dtype=np.float32), sample_rate, DECODER_RATE), pad])
    decoder.start_utt()
    decoder.process_raw(_to_pcm16(audio), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    if hypothesis is None or not hypothesis.hypstr:
        return None
    spoken = hypothesis.hypstr.split()
    return next((sentence for sentence in candidates if _words(sentence) == spoken), None)
