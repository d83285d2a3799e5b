"""A job's speech request: checked when it is accepted, stored as JSON, rebuilt when it runs."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from tts_server.engines.base import SamplingParams
from tts_server.errors import InvalidRequest, TextTooLong
from tts_server.runtime.runners.registry import EngineRegistry, ensure_ready
from tts_server.runtime.speech import SpeechOptions, parse_format
from tts_server.runtime.voices import VoiceResolver

_OPTION_FIELDS = frozenset(f.name for f in fields(SpeechOptions))
_SAMPLING_FIELDS = frozenset(f.name for f in fields(SamplingParams))


async def check_options(
    options: SpeechOptions, engines: EngineRegistry, voices: VoiceResolver, *, max_chars: int
) -> None:
    """Refuse at submission what would fail when the job runs, so a client does not queue a job and
    poll it only to learn that its voice or format does not exist."""
    parse_format(options.response_format)
    if not options.text.strip():
        raise InvalidRequest("Text to synthesise is empty.", param=options.text_param)
    if len(options.text) > max_chars:
        message = f"Text is {len(options.text)} characters long; the limit is {max_chars}."
        raise TextTooLong(message, param=options.text_param)
    candidates = engines.candidates(options.model)
    runner, _ = await voices.route(options.voice, candidates, language=options.language, param=options.voice_param)
    ensure_ready(runner)


def options_to_params(options: SpeechOptions) -> dict[str, Any]:
    return asdict(options)


def options_from_params(params: dict[str, Any]) -> SpeechOptions:
    """Rebuild stored options; fields this version does not know (stored by another one) are dropped."""
    values = {key: value for key, value in params.items() if key in _OPTION_FIELDS and key != "sampling"}
    sampling = params.get("sampling") or {}
    values["sampling"] = SamplingParams(**{key: value for key, value in sampling.items() if key in _SAMPLING_FIELDS})
    return SpeechOptions(**values)
