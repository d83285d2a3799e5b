"""The built-in espeak voices: pure data, importable without loading the library.

Every catalogue name is a distinct combination of espeak variant (timbre), pitch, intonation range and
rate. The Klatt variants are the best recognised (see engineering-notes.md); f/m variants add female
and other male timbres. The Dia names and OpenAI names all resolve here, so clients of either API get
a different-sounding voice per name.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RATE = 175  # espeak's normal speaking rate, words per minute


@dataclass(frozen=True, slots=True)
class EspeakVoice:
    """How one voice drives espeak: `language` + `variant` select the espeak voice, the rest are
    espeak parameters (pitch and range 0-100 with 50 the variant's own; rate in words per minute at
    speed 1.0)."""

    name: str
    language: str
    variant: str
    pitch: int = 50
    pitch_range: int = 50
    rate: int = DEFAULT_RATE
    gender: str | None = None
    description: str = ""


CATALOGUE: dict[str, EspeakVoice] = {
    voice.name: voice
    for voice in (
        EspeakVoice(
            "default", "en-us", "klatt4", 50, 50, 175, "male", "Clear, neutral American voice (best recognised)."
        ),
        # The Dia server's voices.
        EspeakVoice("aria", "en-us", "f3", 50, 60, 170, "female", "Warm female voice."),
        EspeakVoice("atlas", "en-us", "edward", 30, 40, 160, "male", "Deep, steady male voice."),
        EspeakVoice("luna", "en-us", "f2", 75, 75, 165, "female", "High, lilting female voice."),
        EspeakVoice("kai", "en-us", "m6", 62, 55, 190, "male", "Brisk, youthful male voice."),
        EspeakVoice("zara", "en-us", "f5", 38, 55, 180, "female", "Low, breathy female voice."),
        EspeakVoice("nova", "en-us", "klatt5", 92, 65, 180, "female", "Bright, high voice."),
        # OpenAI's voice names (nova is shared with Dia's list above).
        EspeakVoice("alloy", "en-us", "klatt", 64, 50, 175, "neutral", "Even, mid-pitched voice."),
        EspeakVoice("ash", "en-us", "m2", 45, 45, 170, "male", "Calm male voice."),
        EspeakVoice("ballad", "en-gb", "klatt4", 62, 85, 155, "male", "Expressive British male voice."),
        EspeakVoice("coral", "en-us", "f5", 74, 65, 185, "female", "Bright, lively female voice."),
        EspeakVoice("echo", "en-us", "klatt2", 38, 30, 175, "male", "Flat, resonant male voice."),
        EspeakVoice("fable", "en-gb", "sandro", 58, 60, 170, "male", "Breathy British storyteller voice."),
        EspeakVoice("onyx", "en-us", "announcer", 55, 40, 160, "male", "Very deep announcer voice."),
        EspeakVoice("sage", "en-us", "f5", 55, 40, 160, "female", "Measured, calm female voice."),
        EspeakVoice("shimmer", "en-us", "f2", 40, 55, 190, "female", "Quick, clear female voice."),
        EspeakVoice("verse", "en-us", "miguel", 52, 80, 180, "male", "Animated, mellow male voice."),
        EspeakVoice("marin", "en-gb", "f1", 58, 60, 175, "female", "Friendly British female voice."),
        EspeakVoice("cedar", "en-us", "m6", 35, 40, 160, "male", "Low, relaxed male voice."),
    )
}

DEFAULT_VOICE = CATALOGUE["default"]

# Language voices listed by GET /voices. Any other espeak language code (or "code+variant") works too.
LISTED_LANGUAGES: dict[str, str] = {
    "en-us": "English (America)",
    "en-gb": "English (Great Britain)",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt-br": "Portuguese (Brazil)",
    "nl": "Dutch",
    "pl": "Polish",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "hi": "Hindi",
    "cmn": "Chinese (Mandarin)",
}
