"""Command line: `tts-server [--host H] [--port P] [--data-dir DIR] ...` or `python -m tts_server`;
`tts-server check [...]` loads the configured engines, speaks with each and prints a report."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

import uvicorn

from tts_server import __version__
from tts_server.app import create_app
from tts_server.settings import Settings

_CHECK_HELP = (
    "load the configured engines, speak a test sentence with each, transcribe it with Whisper when a model "
    "loads, and print a table (device, load time, real-time factor, first audio, words heard); exit status 1 "
    "when an engine fails"
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tts-server", description="Self-hosted text-to-speech server.")
    _add_setting_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"tts-server {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="{check}")
    check = commands.add_parser("check", help=_CHECK_HELP, description=_CHECK_HELP[0].upper() + _CHECK_HELP[1:] + ".")
    # SUPPRESS: an option given before `check` is not reset by the subcommand's own copy of it
    _add_setting_options(check, default=argparse.SUPPRESS)
    check.add_argument("--text", help="the sentence to speak (default: a short English test sentence)")
    check.add_argument("--no-whisper", action="store_true", help="skip the transcription")
    return parser.parse_args(argv)


def _add_setting_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--host", default=default, help="address to listen on (TTS_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default, help="port to listen on (TTS_PORT, default 7860)")
    parser.add_argument(
        "--data-dir", default=default, help="folder for voices, prompts, outputs and the database (TTS_DATA_DIR)"
    )
    parser.add_argument(
        "--provider", choices=["auto", "espeak", "dia"], default=default, help="speech engine (TTS_PROVIDER)"
    )
    parser.add_argument("--workers", type=int, default=default, help="built-in engine worker processes (TTS_WORKERS)")
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default=default, help="TTS_LOG_LEVEL"
    )
    parser.add_argument(
        "--wyoming-port",
        type=int,
        default=default,
        help="serve Home Assistant's Wyoming protocol on this port (TTS_WYOMING_PORT)",
    )


def load_settings(args: argparse.Namespace) -> Settings:
    """Environment and .env first; command-line flags win."""
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "provider": args.provider,
            "workers": args.workers,
            "log_level": args.log_level,
            "wyoming_port": args.wyoming_port,
        }.items()
        if value is not None
    }
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load_settings(args)
    if args.command == "check":
        raise SystemExit(_check(args, settings))
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
        # X-Forwarded-For is honoured by the app itself, only from TTS_TRUSTED_PROXIES; uvicorn's own
        # handling would trust loopback and rewrite the client address before the rate limiter sees it.
        proxy_headers=False,
    )


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from tts_server.selfcheck import TEST_SENTENCE, check_command

    # The report is the output; engine logs only when asked for (--log-level) or when something goes wrong.
    level = settings.log_level.upper() if args.log_level else "WARNING"
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return check_command(settings, text=args.text or TEST_SENTENCE, transcribe=not args.no_whisper)


if __name__ == "__main__":
    main()
