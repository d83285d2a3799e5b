"""S1-mini fixtures: the tiny checkpoint and the reference's outputs, written by
scripts/s1_reference/make_model_fixtures.py in the reference implementation's own venv and committed here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tiktoken")

import torch

from tests.support.tiny_torch import offline_one_thread
from tts_server.engines.s1.loading import S1Bundle, load_s1
from tts_server.engines.s1.model import DualARModel
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.tokenizer import S1Tokenizer
from tts_server.engines.s1.weights import load_model

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny"


@pytest.fixture(scope="package", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    with offline_one_thread():
        yield


@dataclass(frozen=True)
class Goldens:
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def prompt_case(self, name: str) -> tuple[str, list[VoicePrompt]]:
        case = self.meta["prompts"][name]
        voices = [
            VoicePrompt(text, self.arrays[f"reference_codes_{name}_{index}"])
            for index, (text, _seed) in enumerate(case["references"])
        ]
        return case["text"], voices

    @property
    def generation_cases(self) -> list[dict[str, Any]]:
        return list(self.meta["generation"])


@pytest.fixture(scope="session")
def goldens() -> Goldens:
    with np.load(FIXTURES / "model_goldens.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return Goldens(arrays, json.loads((FIXTURES / "model_goldens.json").read_text()))


@pytest.fixture(scope="session")
def tokenizer() -> S1Tokenizer:
    return S1Tokenizer.from_folder(TINY)


@pytest.fixture(scope="session")
def model(tokenizer: S1Tokenizer) -> DualARModel:
    return load_model(TINY, tokenizer, device=torch.device("cpu"), dtype=torch.float32)


@pytest.fixture(scope="session")
def s1_bundle() -> S1Bundle:
    """The tiny checkpoint (model + codec from both fixture scripts) loaded through the real loading code."""
    return load_s1(str(TINY), device="cpu", dtype="auto")
