"""normalize_text must never fail, whatever language a voice speaks: gaps in num2words leave digits as they are."""

from __future__ import annotations

import pytest

from tts_server.audio.text import normalize_text
from tts_server.engines.espeak.voices import LISTED_LANGUAGES

MESSY = "I have -5 apples, 3.5 kg and $5.50; the 21st of 2024-03-15 at 14:30 was 50% better (see www.a.org)."


@pytest.mark.parametrize("language", sorted({*LISTED_LANGUAGES, "pl", "he", "hu", "ko", "vi", "zh", "ja"}))
def test_every_listed_language_normalises_without_error(language: str) -> None:
    spoken = normalize_text(MESSY, language)
    assert spoken.strip()
    assert "apples" in spoken


def test_polish_numbers_become_words_where_num2words_can() -> None:
    assert "pięć" in normalize_text("5 jabłek", "pl")
