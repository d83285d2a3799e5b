"""Fixtures for the Whisper API tests: a tiny Whisper checkpoint that always hears "hello".

The tiny random checkpoint of tests/asr is rewired so that its decoder is a fixed bigram model:
timestamp -> " hello" -> end of text, with English detected as the language. Its transcripts are known
(one "hello" per 30 s window) and decoding stops after three tokens, so every test that transcribes
stays fast, while loading and transcription still run through openai-whisper as users' models do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asr.conftest import SKIP_REASON, build_tiny_checkpoint
from tests.conftest import AppFactory

HEARD = "hello"
"""What the checkpoint built by `build_hello_checkpoint` transcribes in every 30 s window."""

WhisperApp = Callable[..., "contextlib.AbstractAsyncContextManager[httpx.AsyncClient]"]


def build_hello_checkpoint(path: Path) -> None:
    """Save a tiny multilingual Whisper whose decoder ignores the audio and says " hello"."""
    torch = pytest.importorskip("torch", reason=SKIP_REASON)
    tokenizer_module = pytest.importorskip("whisper.tokenizer", reason=SKIP_REASON)
    build_tiny_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    state: dict[str, Any] = checkpoint["model_state_dict"]
    tokenizer = tokenizer_module.get_tokenizer(multilingual=True, num_languages=99)
    _silence_decoder_blocks(state)
    _wire_bigrams(state["decoder.token_embedding.weight"], tokenizer)
    torch.save(checkpoint, path)


def _silence_decoder_blocks(state: dict[str, Any]) -> None:
    """Zero what every decoder block adds to the residual stream, and the positional embedding, so the
    last layer norm sees only the embedding of the current input token."""
    for name, tensor in state.items():
        if not name.startswith("decoder."):
            continue
        adds_to_stream = name.endswith(("attn.out.weight", "attn.out.bias", "mlp.2.weight", "mlp.2.bias"))
        if adds_to_stream or name == "decoder.positional_embedding":
            tensor.zero_()
    state["decoder.ln.weight"].fill_(1.0)
    state["decoder.ln.bias"].zero_()


def _wire_bigrams(embedding: Any, tokenizer: Any) -> None:
    """Output scores are (normalised input embedding) . (token embedding), so directions 0-3 of the
    embeddings encode: start -> English; task token -> <|0.00|>; a timestamp -> " hello"; " hello" -> end."""
    (hello,) = tokenizer.encode(" " + HEARD)
    timestamps = slice(tokenizer.timestamp_begin, None)
    embedding[timestamps, 0] = 3.0  # "I am a timestamp"
    embedding[tokenizer.timestamp_begin, 2] = 1.0  # <|0.00|> answers the task token
    embedding[hello, 0] = 3.0  # answers a timestamp...
    embedding[hello, 1] = 3.0  # ...and is answered by the end token
    embedding[tokenizer.eot, 1] = 10.0
    embedding[tokenizer.transcribe, 2] = 3.0
    embedding[tokenizer.sot, 3] = 3.0
    embedding[tokenizer.to_language_token("en"), 3] = 2.0


@pytest.fixture(scope="session")
def hello_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whisper-app") / "tiny-hello.pt"
    build_hello_checkpoint(path)
    return path


@pytest.fixture
def whisper_app(app_factory: AppFactory, hello_checkpoint: Path) -> WhisperApp:
    """The app with the "hello" checkpoint as TTS_WHISPER_MODEL and auto-transcription on."""

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings: dict[str, Any] = {"whisper_model": str(hello_checkpoint), "auto_transcribe": True, "workers": 1}
        async with app_factory(**{**settings, **overrides}) as client:
            yield client

    return run
