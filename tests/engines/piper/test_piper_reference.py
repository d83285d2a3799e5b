# ruff: noqa: RUF001  (typographic punctuation is part of what is compared)
"""Our Piper engine against piper-tts, the reference implementation (GPL-3, run in its own process).

Phoneme ids are equal, except for one difference between espeak-ng builds: piper-tts's newer build puts a
linking "ʲ" after a word-final i before a vowel ("me a", "the age"); the server's espeak-ng 1.52 does not.
With the noise scales at zero the graph is deterministic, and our audio equals piper-tts's to within float
rounding (piper-tts runs onnxruntime on every core, we on one thread per worker: sums run in another order).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tts_server.audio.text import normalize_text
from tts_server.engines.base import CancelToken, SynthesisRequest, VoiceSelection
from tts_server.engines.piper.engine import PiperEngine
from tts_server.engines.piper.names import Delivery, PiperName

REPO = Path(__file__).resolve().parents[3]
LINKING_GLIDE = 119  # "ʲ" in the voice's phoneme-id map
# Each as our engine speaks it (normalised); the first ones have no vowel-to-vowel link.
SENTENCES = [
    "Hello there, how are you today? I am fine: thanks; really!",
    "The quick brown fox jumps over the lazy dog",
    "Dr. Smith went to Washington... and then -- nothing. Wait… what?",
    '"Quoted," she said. (Parenthetical) words—em dash – en dash.',
    "Really?! Yes!! No... maybe. Okay.",
    "My sister works at the hospital on weekends.",
    "We will meet at the train station tomorrow morning.",
    "Café naïve résumé — a coöperative façade.",
    "The U.S. economy grew 3.5 percent in 2020, e.g. faster than expected.",
    "Please bring me a glass of cold water.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
]
WITHOUT_LINKS = 8
TEXTS = [normalize_text(sentence) for sentence in SENTENCES]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("piper-reference")
    subprocess.run(
        [sys.executable, "-m", "tests.engines.piper.piper_reference", str(out)],
        input=json.dumps({"texts": TEXTS, "audio": [0, 3, 5, 6]}),
        text=True,
        cwd=REPO,
        check=True,
        timeout=300,
    )
    return out


def _reference_ids(reference: Path) -> list[list[list[int]]]:
    ids: list[list[list[int]]] = json.loads((reference / "ids.json").read_text())
    return ids


def _without_links(ids: list[int]) -> list[int]:
    kept: list[int] = []
    for index, value in enumerate(ids):
        glide_pad = value == 0 and index > 0 and ids[index - 1] == LINKING_GLIDE
        if value != LINKING_GLIDE and not glide_pad:
            kept.append(value)
    return kept


def test_phoneme_ids_equal_piper_tts(piper: PiperEngine, reference: Path) -> None:
    expected = _reference_ids(reference)
    for text, theirs in zip(TEXTS[:WITHOUT_LINKS], expected, strict=False):
        assert piper.phoneme_ids(text) == theirs, text


def test_the_only_difference_is_espeaks_linking_glide(piper: PiperEngine, reference: Path) -> None:
    expected = _reference_ids(reference)
    linked = [theirs for theirs in expected[WITHOUT_LINKS:] if any(LINKING_GLIDE in ids for ids in theirs)]
    assert linked, "the later sentences were chosen for their vowel-to-vowel links"
    for text, theirs in zip(TEXTS[WITHOUT_LINKS:], expected[WITHOUT_LINKS:], strict=True):
        assert piper.phoneme_ids(text) == [_without_links(ids) for ids in theirs], text


def _quiet_audio(piper: PiperEngine, text: str) -> NDArray[np.float32]:
    main = piper.main_voice
    assert main is not None
    quiet = PiperName("quiet", main, delivery=Delivery(1.0, 0.0, 0.0))
    return piper.speak_text(piper._voice(main), text, quiet, 1.0)


@pytest.mark.parametrize("number", [0, 3, 5])
def test_audio_equals_piper_tts_without_noise(piper: PiperEngine, reference: Path, number: int) -> None:
    theirs = np.load(reference / f"{number}.quiet.npy")
    ours = _quiet_audio(piper, TEXTS[number])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_default_delivery_lasts_as_long_as_piper_tts(piper: PiperEngine, reference: Path) -> None:
    """With the voice's noise scales the graph samples; the lengths still agree closely."""
    for number in (5, 6):
        request = SynthesisRequest(text=TEXTS[number], voice=VoiceSelection("default", builtin="default"))
        ours = sum(len(chunk.samples) for chunk in piper.synthesize(request, CancelToken()))
        theirs = len(np.load(reference / f"{number}.default.npy"))
        assert abs(ours - theirs) / theirs < 0.2, (ours, theirs)
