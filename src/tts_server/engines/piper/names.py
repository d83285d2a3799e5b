"""The names Piper answers to: every voice file by its name, and the server's shared names for one voice.

`default`, the Dia server's names and OpenAI's all speak the bundled voice (one speaker, "joe"), each with
its own delivery: tempo (length scale) and liveliness (the noise scales: intonation and rhythm vary more
or less). They stay distinguishable by pace and expressiveness, never by timbre; the listing says so. For
other speakers, add Piper voices (TTS_PIPER_VOICES) or use Kokoro.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delivery:
    """Factors on the voice's own length scale (>1 slower), noise scale and noise width."""

    length: float = 1.0
    noise: float = 1.0
    noise_w: float = 1.0


@dataclass(frozen=True, slots=True)
class PiperName:
    """A name clients send, resolved to a voice file, a speaker and a delivery."""

    name: str
    file_key: str
    speaker: int | None = None
    delivery: Delivery = Delivery()
    description: str = ""


# Pace comes from the length factor; the noise width stays near 1, since it also moves the pace (a narrower
# spread of phoneme lengths makes speech shorter on average) and would blur the differences of length.
SHARED_NAMES: dict[str, tuple[Delivery, str]] = {
    "default": (Delivery(), "its own delivery"),
    # the Dia server's voices
    "aria": (Delivery(1.06, 1.15, 1.0), "warm, a little slower"),
    "atlas": (Delivery(1.18, 0.8, 0.95), "slow and steady"),
    "luna": (Delivery(1.1, 1.3, 1.05), "lilting, expressive"),
    "kai": (Delivery(0.88, 1.1, 1.0), "brisk"),
    "zara": (Delivery(1.08, 0.7, 0.95), "low-key, even"),
    "nova": (Delivery(0.95, 1.25, 1.0), "bright, lively"),
    # OpenAI's voices (nova is above)
    "alloy": (Delivery(1.0, 0.9, 1.0), "even, neutral"),
    "ash": (Delivery(1.05, 0.75, 0.95), "calm"),
    "ballad": (Delivery(1.2, 1.3, 1.05), "slow, expressive storyteller"),
    "coral": (Delivery(0.92, 1.2, 1.0), "lively"),
    "echo": (Delivery(1.0, 0.5, 0.9), "flat, steady"),
    "fable": (Delivery(1.12, 1.2, 1.0), "unhurried narrator"),
    "onyx": (Delivery(1.25, 0.7, 0.95), "deliberate"),
    "sage": (Delivery(1.1, 0.8, 0.95), "measured"),
    "shimmer": (Delivery(0.85, 1.0, 1.0), "quick"),
    "verse": (Delivery(1.0, 1.35, 1.05), "animated"),
    "marin": (Delivery(0.97, 1.1, 1.0), "friendly"),
    "cedar": (Delivery(1.15, 0.6, 0.95), "relaxed"),
}


def shared_names(file_key: str, speaker_name: str) -> dict[str, PiperName]:
    """The shared names, all speaking `file_key` (the bundled voice) with their deliveries."""
    return {
        name: PiperName(name, file_key, None, delivery, f"Piper {speaker_name}, {what}.")
        for name, (delivery, what) in SHARED_NAMES.items()
    }
