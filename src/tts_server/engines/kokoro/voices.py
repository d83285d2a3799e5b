"""Kokoro's voice names: its own ("af_heart": American English, female) and the server's shared names.

The shared names (default, the Dia server's, OpenAI's) each point at a distinct Kokoro voice of a fitting
kind (several are Kokoro's own namesakes: af_alloy, am_echo, bm_fable, am_onyx, af_nova). A shared name
whose voice is not in the loaded set is not Kokoro's (another engine may answer it), except `default`,
which falls back to the first voice there is.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_server.engines.kokoro.phonemes import LANGUAGE_CODES, LANGUAGE_NAMES

SHARED_NAMES: dict[str, str] = {
    "default": "af_heart",
    "aria": "af_bella",
    "atlas": "am_fenrir",
    "luna": "af_nicole",
    "kai": "am_puck",
    "zara": "af_river",
    "nova": "af_nova",
    "alloy": "af_alloy",
    "ash": "am_adam",
    "ballad": "bm_george",
    "coral": "af_jessica",
    "echo": "am_echo",
    "fable": "bm_fable",
    "onyx": "am_onyx",
    "sage": "af_sarah",
    "shimmer": "af_sky",
    "verse": "am_michael",
    "marin": "bf_emma",
    "cedar": "am_eric",
}
# Picked for approximate cloning when a reference asks for the other kind of voice (first available wins).
PREFERRED = ("af_heart", "af_bella", "am_michael", "am_fenrir", "bf_emma", "bm_george", "ff_siwis")


@dataclass(frozen=True, slots=True)
class KokoroVoice:
    name: str  # Kokoro's own name, e.g. "af_heart"

    @property
    def language_code(self) -> str:
        """Kokoro's letter for the voice's language ("a" when the name does not say)."""
        letter = self.name[:1]
        return letter if letter in LANGUAGE_CODES else "a"

    @property
    def gender(self) -> str | None:
        kind = self.name[1:2]
        return {"f": "female", "m": "male"}.get(kind) if self.name[2:3] == "_" else None

    @property
    def language(self) -> str:
        return LANGUAGE_CODES[self.language_code]

    def description(self) -> str:
        kind = f"{self.gender} " if self.gender else ""
        return f"Kokoro {LANGUAGE_NAMES[self.language_code]} {kind}voice."


def shared_names(available: list[str]) -> dict[str, str]:
    """Shared name -> Kokoro voice, for the voices that are loaded."""
    names = {shared: voice for shared, voice in SHARED_NAMES.items() if voice in available}
    if "default" not in names and available:
        names["default"] = available[0]
    return names


def voice_for_kind(current: str, low_voice: bool, available: list[str]) -> str:
    """A voice of the same language as `current`, male for a low reference voice, female for a high one."""
    wanted = "male" if low_voice else "female"
    if KokoroVoice(current).gender == wanted:
        return current
    language = KokoroVoice(current).language_code
    fitting = [v for v in available if KokoroVoice(v).language_code == language and KokoroVoice(v).gender == wanted]
    preferred = [v for v in PREFERRED if v in fitting]
    return (preferred or fitting or [current])[0]
