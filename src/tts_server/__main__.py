"""Command line: `tts-server [--host H] [--port P] [--data-dir DIR] ...` or `python -m tts_server`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

import uvicorn

from tts_server import __version__
from tts_server.app import create_app
from tts_server.settings import Settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tts-server", description="Self-hosted text-to-speech server.")
    parser.add_argument("--host", help="address to listen on (TTS_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (TTS_PORT, default 7860)")
    parser.add_argument("--data-dir", help="folder for voices, prompts, outputs and the database (TTS_DATA_DIR)")
    parser.add_argument("--provider", choices=["auto", "espeak", "dia"], help="speech engine (TTS_PROVIDER)")
    parser.add_argument("--workers", type=int, help="built-in engine worker processes (TTS_WORKERS)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="TTS_LOG_LEVEL")
    parser.add_argument("--wyoming-port", type=int, help="serve the Wyoming protocol on this port (TTS_WYOMING_PORT)")
    parser.add_argument("--version", action="version", version=f"tts-server {__version__}")
    return parser.parse_args(argv)


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
    settings = load_settings(parse_args(argv))
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


if __name__ == "__main__":
    main()
