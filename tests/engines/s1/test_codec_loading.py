"""Loading codec.pth: the formats a real file may come in, and a clear EngineLoadError for every bad one."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from tests.engines.s1.codec_support import AUDIO_ATOL, TINY_CODEC, TINY_HPARAMS, goldens, one_torch_thread
from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.codec import S1Codec
from tts_server.engines.s1.codec_transformer import RotaryTable

PARAMETRIZED = (".parametrizations.weight.original0", ".parametrizations.weight.original1")
HOOKED = (".weight_g", ".weight_v")

State = dict[str, torch.Tensor]


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def tiny_state() -> State:
    state: State = torch.load(TINY_CODEC, weights_only=True)
    return state


@pytest.fixture(scope="module")
def expected_audio(tiny_state: State) -> np.ndarray:
    return decode_golden(S1Codec.from_checkpoint(TINY_CODEC))


def decode_golden(codec: S1Codec) -> np.ndarray:
    audio: np.ndarray = codec.decode(torch.from_numpy(goldens()["decode_codes"])).numpy()
    return audio


def save_checkpoint(folder: Path, content: object, *, hparams: bool = True) -> Path:
    """content saved as folder/codec.pth, with the tiny codec's hparams beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(content, folder / "codec.pth")
    if hparams:
        shutil.copy(TINY_HPARAMS, folder / "codec_hparams.json")
    return folder / "codec.pth"


def renamed(state: State, source: tuple[str, str], target: tuple[str, str]) -> State:
    result: State = {}
    for key, value in state.items():
        for old, new in zip(source, target, strict=True):
            if key.endswith(old):
                key = key.removesuffix(old) + new
        result[key] = value
    return result


def test_reference_file_has_both_weight_norm_formats(tiny_state: State) -> None:
    assert sum(key.endswith(PARAMETRIZED[0]) for key in tiny_state) > 0
    assert sum(key.endswith(HOOKED[0]) for key in tiny_state) == 20  # 10 codebooks x (in_proj, out_proj)


@pytest.mark.parametrize(
    ("source", "target"), [(PARAMETRIZED, HOOKED), (HOOKED, PARAMETRIZED)], ids=["all-hooked", "all-parametrized"]
)
def test_either_weight_norm_format_loads_alike(
    tmp_path: Path, tiny_state: State, expected_audio: np.ndarray, source: tuple[str, str], target: tuple[str, str]
) -> None:
    state = renamed(tiny_state, source, target)
    assert not any(key.endswith(source) for key in state)
    codec = S1Codec.from_checkpoint(save_checkpoint(tmp_path, state))
    np.testing.assert_array_equal(decode_golden(codec), expected_audio)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda state: {"state_dict": state},
        lambda state: (
            {"generator." + key: value for key, value in state.items()} | {"discriminator.conv.weight": torch.ones(3)}
        ),
        lambda state: {"state_dict": {"generator." + key: value for key, value in state.items()}},
    ],
    ids=["state_dict", "generator-prefix", "both"],
)
def test_training_checkpoint_wrappers_load(
    tmp_path: Path, tiny_state: State, expected_audio: np.ndarray, wrap: Callable[[State], object]
) -> None:
    codec = S1Codec.from_checkpoint(save_checkpoint(tmp_path, wrap(tiny_state)))
    np.testing.assert_array_equal(decode_golden(codec), expected_audio)


def test_rope_tables_computed_as_the_reference_builds_them(tiny_state: State) -> None:
    """In bf16, as fish-speech's precompute_freqs_cis returns them: our table equals its freqs_cis buffer."""
    hparams = json.loads(TINY_HPARAMS.read_text())
    for prefix, settings in [
        ("encoder.block.4.block.5.", hparams["encoder_attention"]),
        ("quantizer.pre_module.", hparams["pre_attention"]),
        ("quantizer.post_module.", hparams["post_attention"]),
    ]:
        reference = tiny_state[prefix + "freqs_cis"]
        assert reference.dtype == torch.bfloat16
        ours = RotaryTable(settings["head_dim"], settings["rope_base"]).rows(0, len(reference), torch.device("cpu"))
        torch.testing.assert_close(ours, reference.float(), rtol=0, atol=0)


def test_checkpoint_without_buffers_matches_reference(tmp_path: Path, tiny_state: State) -> None:
    state = {key: value for key, value in tiny_state.items() if not key.endswith(("freqs_cis", "causal_mask"))}
    codec = S1Codec.from_checkpoint(save_checkpoint(tmp_path, state))
    np.testing.assert_allclose(decode_golden(codec), goldens()["decode_audio"], rtol=0, atol=AUDIO_ATOL)


def test_real_checkpoint_needs_no_hparams_file(tmp_path: Path, tiny_state: State) -> None:
    """Without codec_hparams.json the S1-mini values apply (here they do not fit the tiny codec's heads)."""
    path = save_checkpoint(tmp_path, tiny_state, hparams=False)
    with pytest.raises(EngineLoadError, match="not a multiple of head_dim 64"):
        S1Codec.from_checkpoint(path)


def test_unknown_tensors_are_ignored_with_a_warning(
    tmp_path: Path, tiny_state: State, expected_audio: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_checkpoint(tmp_path, tiny_state | {"quantizer.spare.weight": torch.ones(2)})
    with caplog.at_level(logging.WARNING):
        codec = S1Codec.from_checkpoint(path)
    np.testing.assert_array_equal(decode_golden(codec), expected_audio)
    assert "quantizer.spare.weight" in caplog.text


def without(state: State, key: str) -> State:
    return {name: value for name, value in state.items() if name != key}


BAD_CHECKPOINTS: dict[str, tuple[Callable[[State], object], str]] = {
    "not a state dict": (lambda state: [1, 2, 3], "holds a list, not a state dict"),
    "another model": (lambda state: {"tok_embeddings.weight": torch.zeros(4, 4)}, "does not hold an S1-mini codec"),
    "missing tensor": (
        lambda state: without(state, "decoder.model.0.conv.bias"),
        "lacks 1 tensors, e.g. decoder.model.0.conv.bias",
    ),
    "wrong shape": (
        lambda state: state | {"decoder.model.0.conv.bias": torch.zeros(5)},
        "does not fit: size mismatch for decoder.model.0.conv.bias",
    ),
    "weight-norm magnitude alone": (
        lambda state: without(state, "decoder.model.0.conv.parametrizations.weight.original1"),
        "has a magnitude but no direction",
    ),
    "weight-norm direction alone": (
        lambda state: without(state, "quantizer.quantizer.quantizers.0.in_proj.weight_g"),
        "direction without its magnitude",
    ),
}


@pytest.mark.parametrize("case", BAD_CHECKPOINTS)
def test_bad_checkpoint_names_the_file(tmp_path: Path, tiny_state: State, case: str) -> None:
    make, message = BAD_CHECKPOINTS[case]
    path = save_checkpoint(tmp_path, make(tiny_state))
    with pytest.raises(EngineLoadError, match=re.escape(message)) as raised:
        S1Codec.from_checkpoint(path)
    assert str(path) in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "codec.pth"
    with pytest.raises(EngineLoadError, match=re.escape(f"S1-mini codec checkpoint not found: {path}")):
        S1Codec.from_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", b"PK\x03\x04truncated zip"])
def test_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "codec.pth"
    path.write_bytes(content)
    with pytest.raises(EngineLoadError, match=re.escape(f"S1-mini codec checkpoint {path} could not be read")):
        S1Codec.from_checkpoint(path)


def test_truncated_real_file(tmp_path: Path) -> None:
    path = tmp_path / "codec.pth"
    path.write_bytes(TINY_CODEC.read_bytes()[:100_000])
    with pytest.raises(EngineLoadError, match=re.escape(f"{path} could not be read")):
        S1Codec.from_checkpoint(path)


@pytest.mark.parametrize(
    "content",
    ['{"sample_rate": "fast"}', '{"window": 4}', "{not json", '{"pre_attention": {"head_dim": 0}}'],
)
def test_invalid_hparams_name_the_file(tmp_path: Path, tiny_state: State, content: str) -> None:
    path = save_checkpoint(tmp_path, tiny_state)
    (tmp_path / "codec_hparams.json").write_text(content)
    with pytest.raises(EngineLoadError, match=re.escape(f"{tmp_path / 'codec_hparams.json'} are invalid")):
        S1Codec.from_checkpoint(path)


def test_hparams_are_read(tmp_path: Path, tiny_state: State) -> None:
    hparams = json.loads(TINY_HPARAMS.read_text())
    hparams["post_attention"]["window"] = 5
    path = save_checkpoint(tmp_path, tiny_state)
    (tmp_path / "codec_hparams.json").write_text(json.dumps(hparams))
    codec = S1Codec.from_checkpoint(path)
    assert codec.config.post_transformer is not None and codec.config.post_transformer.window == 5
    assert np.abs(decode_golden(codec) - goldens()["decode_audio"]).max() > 1e-3  # the window matters


def test_checkpoint_rope_table_is_used(tmp_path: Path, tiny_state: State) -> None:
    """As the reference loads freqs_cis with the weights, a checkpoint's own table wins over the computed one."""
    key = "quantizer.post_module.freqs_cis"
    changed = tiny_state[key].clone()
    changed[:, :, 1] = -changed[:, :, 1]  # rotate the other way
    codec = S1Codec.from_checkpoint(save_checkpoint(tmp_path, tiny_state | {key: changed}))
    assert np.abs(decode_golden(codec) - goldens()["decode_audio"]).max() > 1e-3
