"""The DualAR model against the reference: prefill logits (fp32, allclose), the accepted checkpoint forms,
and the full-size architecture key for key and shape for shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engines.s1.conftest import FIXTURES, TINY, Goldens
from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.config import S1ModelConfig
from tts_server.engines.s1.model import DualARModel
from tts_server.engines.s1.tokenizer import S1Tokenizer
from tts_server.engines.s1.weights import build_model, load_model

CPU = torch.device("cpu")


def prefill_logits(model: DualARModel, prompt: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.prefill(torch.from_numpy(prompt), all_logits=True).logits.numpy()


@pytest.mark.parametrize("name", ["plain", "reference"])
def test_prefill_logits_equal_the_reference(model: DualARModel, goldens: Goldens, name: str) -> None:
    logits = prefill_logits(model, goldens.arrays[f"prompt_{name}"])
    np.testing.assert_allclose(logits, goldens.arrays[f"all_logits_{name}"], rtol=1e-5, atol=2e-5)


def fast_logits(model: DualARModel, prompt: np.ndarray) -> np.ndarray:
    """The fast transformer's logits for codebook 1 after code 5, in the prompt's first frame."""
    with torch.inference_mode():
        first = model.prefill(torch.from_numpy(prompt))
        cache = model.new_fast_cache(1, CPU, torch.float32)
        model.fast_step(first.hidden[None], torch.tensor(0), cache)
        return model.fast_step(model.fast_embeddings(torch.tensor([5])), torch.tensor(1), cache)[0].numpy()


@pytest.mark.parametrize("name", ["plain", "reference"])
def test_fast_transformer_logits_equal_the_reference(model: DualARModel, goldens: Goldens, name: str) -> None:
    logits = fast_logits(model, goldens.arrays[f"prompt_{name}"])
    np.testing.assert_allclose(logits, goldens.arrays[f"fast_logits_code5_{name}"], rtol=1e-5, atol=2e-5)


def test_every_norm_weight_matters(model: DualARModel, goldens: Goldens) -> None:
    """The comparisons above can fail: putting any one norm weight back to 1 moves the slow or the fast
    logits past their tolerance."""
    prompt = goldens.arrays["prompt_plain"]
    expected = (goldens.arrays["all_logits_plain"], goldens.arrays["fast_logits_code5_plain"])
    norms = [name for name, _ in model.named_parameters() if "norm" in name]
    assert len(norms) == 2 * 4 + 2 * 2 + 2  # slow blocks (attention, ffn, q, k), fast blocks, final norms
    for name in norms:
        weight = model.get_parameter(name)
        saved = weight.detach().clone()
        with torch.no_grad():
            weight.fill_(1.0)
        try:
            got = (prefill_logits(model, prompt), fast_logits(model, prompt))
            assert not all(np.allclose(a, b, rtol=1e-5, atol=2e-5) for a, b in zip(got, expected, strict=True)), name
        finally:
            with torch.no_grad():
                weight.copy_(saved)


def copy_checkpoint(tmp_path: Path, state: object) -> Path:
    for name in ("config.json", "tokenizer.tiktoken", "special_tokens.json"):
        shutil.copy(TINY / name, tmp_path / name)
    torch.save(state, tmp_path / "model.pth")
    return tmp_path


@pytest.mark.parametrize("form", ["lightning wrapper", "split qkv"])
def test_other_checkpoint_forms_load_the_same_model(
    tmp_path: Path, tokenizer: S1Tokenizer, model: DualARModel, goldens: Goldens, form: str
) -> None:
    state = torch.load(TINY / "model.pth", weights_only=True)
    if form == "lightning wrapper":
        saved: object = {"state_dict": {f"model.{key}": value for key, value in state.items()}}
    else:
        saved = dict(state)
        shape = model.slow_shape
        for key in [key for key in state if key.endswith("wqkv.weight")]:
            heads = shape if key.startswith("layers") else model.fast_shape
            sizes = [heads.n_head * heads.head_dim] + 2 * [heads.n_local_heads * heads.head_dim]
            q, k, v = saved.pop(key).split(sizes)
            prefix = key.removesuffix("wqkv.weight")
            saved.update({f"{prefix}wq.weight": q, f"{prefix}wk.weight": k, f"{prefix}wv.weight": v})
        saved["audio_projector.weight"] = torch.zeros(3)  # dropped, as by the reference
    reloaded = load_model(copy_checkpoint(tmp_path, saved), tokenizer, device=CPU, dtype=torch.float32)
    prompt = goldens.arrays["prompt_plain"]
    np.testing.assert_array_equal(prefill_logits(reloaded, prompt), prefill_logits(model, prompt))


def test_missing_weight_is_a_load_error(tmp_path: Path, tokenizer: S1Tokenizer) -> None:
    state = torch.load(TINY / "model.pth", weights_only=True)
    del state["layers.1.attention.k_norm.weight"]
    with pytest.raises(EngineLoadError, match=r"1 missing.*layers\.1\.attention\.k_norm"):
        load_model(copy_checkpoint(tmp_path, state), tokenizer, device=CPU, dtype=torch.float32)


def test_full_size_model_matches_the_reference_key_for_key(tokenizer: S1Tokenizer) -> None:
    """Built on the meta device from S1-mini's config: every state-dict key and shape the reference has."""
    expected = json.loads((FIXTURES / "full_size_state_dict.json").read_text())
    config = S1ModelConfig.from_file(FIXTURES / "full_size_config.json")
    model = build_model(config, tokenizer, device="meta")
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert shapes == expected["state_dict"]
    parameters = sum(param.numel() for param in model.parameters())
    assert parameters == expected["parameters"]
    assert round(parameters / 1e6, 1) == 860.2
