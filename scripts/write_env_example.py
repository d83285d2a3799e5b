"""Writes .env.example from the Settings model, so it always lists every setting with its default."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic_core import PydanticUndefined

from tts_server.settings import Settings


def render() -> str:
    lines = ["# tts-server settings: every variable with its default. Copy to .env and edit.", ""]
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description}")
        if field.default is PydanticUndefined or field.default_factory is not None:
            lines.append(f"# TTS_{name.upper()}=  (computed when unset)")
        else:
            lines.append(f"TTS_{name.upper()}={_env_value(field.default)}")
        lines.append("")
    return "\n".join(lines)


def _env_value(default: object) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    return str(getattr(default, "value", default))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", nargs="?", type=Path, default=Path(".env.example"), help="file to write")
    parser.parse_args().target.write_text(render())
