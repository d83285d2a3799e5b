"""Writes the S1-mini codec test fixtures with the reference implementation (fish-speech 0.1.0's modded DAC).

Run it in the reference venv, never in the server's (fish-speech cannot live there):

    bash ../shared/tools/s1-reference/setup.sh /tmp/s1-ref-codec-venv
    PYTHONPATH=../shared/tools/s1-reference/shim /tmp/s1-ref-codec-venv/bin/python \
        scripts/s1_reference/make_codec_fixtures.py tests/engines/s1/fixtures

It writes, under the given folder:
- tiny/codec.pth: a tiny random codec built from the reference's own classes (DAC, DownsampleResidualVectorQuantize,
  WindowLimitedTransformer), saved as the official file is: the module's raw state_dict, with both weight-norm key
  formats (parametrizations.weight.original0/1 on the causal convolutions, weight_g/weight_v on the quantizer
  projections) and the RoPE/mask buffers. Every norm weight, layer scale, Snake alpha, weight-norm magnitude and
  bias is moved away from its initial value, so an implementation that ignores one cannot match.
  The semantic codebook has 2,048 codes, as the tiny text-to-semantic fixture's codebook 0.
- tiny/codec_hparams.json: what the state-dict shapes cannot tell (attention windows, head sizes), read by our
  loader; the real codec.pth needs no such file (the S1-mini values are our defaults).
- codec_goldens.npz: the reference's encode of fixed signals (one clip, and a batch of two lengths), and its decode
  of fixed codes (fp32, CPU).
- codec_full_size_state_dict.json: every key, shape and dtype of the full-size S1-mini codec, built on the meta
  device from the reference's own modded_dac_vq.yaml, with its parameter count.

The tiny windows are small (encoder 8 steps, quantizer transformers 4 and 3 frames) so that clips of a few frames
already slide the attention window, which the real windows (512 and 128) would not; RoPE bases and RMSNorm epsilons
differ per transformer and from S1-mini's, so each setting's way from codec_hparams.json into the model is checked.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import fish_speech.models.dac.modded_dac as modded_dac
import numpy as np
import torch
from fish_speech.models.dac.modded_dac import DAC, ModelArgs, WindowLimitedTransformer
from fish_speech.models.dac.rvq import DownsampleResidualVectorQuantize
from hydra.utils import instantiate
from omegaconf import OmegaConf

SEED = 1234
SAMPLE_RATE = 44100
SEMANTIC_CODES = 2048
RESIDUAL_CODES = 1024


# Attention settings the shapes cannot tell; each transformer gets its own, none S1-mini's, so that a loader which
# drops one of them misses the goldens.
ENCODER_ATTENTION: dict[str, Any] = {"head_dim": 16, "window": 8, "rope_base": 20000, "norm_eps": 1e-3}
PRE_ATTENTION: dict[str, Any] = {"head_dim": 8, "window": 4, "rope_base": 1000, "norm_eps": 0.05}
POST_ATTENTION: dict[str, Any] = {"head_dim": 16, "window": 3, "rope_base": 500, "norm_eps": 0.2}


def quantizer_transformer(*, layers: int, heads: int, ffn: int, attention: dict[str, Any]) -> WindowLimitedTransformer:
    config = ModelArgs(
        block_size=128, n_layer=layers, n_head=heads, dim=64, intermediate_size=ffn, head_dim=attention["head_dim"],
        rope_base=attention["rope_base"], norm_eps=attention["norm_eps"], channels_first=True,
    )  # fmt: skip
    return WindowLimitedTransformer(config=config, input_dim=64, window_size=attention["window"], causal=True)


def build_tiny_codec() -> DAC:
    torch.manual_seed(SEED)
    quantizer = DownsampleResidualVectorQuantize(
        input_dim=64, n_codebooks=9, codebook_dim=8, quantizer_dropout=0.5, codebook_size=RESIDUAL_CODES,
        semantic_codebook_size=SEMANTIC_CODES, downsample_factor=(2, 2),
        pre_module=quantizer_transformer(layers=2, heads=4, ffn=96, attention=PRE_ATTENTION),
        post_module=quantizer_transformer(layers=3, heads=2, ffn=128, attention=POST_ATTENTION),
    )  # fmt: skip
    general = functools.partial(
        ModelArgs, block_size=256, head_dim=ENCODER_ATTENTION["head_dim"], rope_base=ENCODER_ATTENTION["rope_base"],
        norm_eps=ENCODER_ATTENTION["norm_eps"],
    )  # fmt: skip
    codec = DAC(
        encoder_dim=4, encoder_rates=[2, 4, 8, 8], decoder_dim=48, decoder_rates=[8, 8, 4, 2], quantizer=quantizer,
        sample_rate=SAMPLE_RATE, causal=True, encoder_transformer_layers=[0, 0, 0, 2],
        decoder_transformer_layers=[0, 0, 0, 0], transformer_general_config=general,
    )  # fmt: skip
    # EncoderBlock hard-codes a 512-step window; a tiny clip would never slide it.
    encoder_transformer = codec.encoder.block[4].block[5]
    assert isinstance(encoder_transformer, WindowLimitedTransformer)
    encoder_transformer.window_size = ENCODER_ATTENTION["window"]
    perturb(codec)
    return codec.eval()


def perturb(codec: torch.nn.Module) -> None:
    """Move every scale and offset away from its initial value (ones, zeros, 1e-2 layer scales)."""
    generator = torch.Generator().manual_seed(SEED + 1)

    def uniform(shape: torch.Size, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for name, param in codec.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "alpha":
                param.copy_(uniform(param.shape, 0.5, 2.0))
            elif leaf == "gamma":  # LayerScale and ConvNeXt: large enough that the branch matters
                param.copy_(uniform(param.shape, 0.2, 0.8))
            elif leaf in ("original0", "weight_g"):  # weight-norm magnitude
                param.mul_(uniform(param.shape, 0.5, 1.5))
            elif leaf == "bias":
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
            elif name.endswith("norm.weight"):  # RMSNorm and LayerNorm
                param.copy_(uniform(param.shape, 0.5, 1.5))
            elif leaf == "weight" and param.ndim >= 2 and "codebook" not in name:
                # The reference draws these with std 0.02, which fades a tiny model's signal into its biases:
                # unit gain keeps every frame's codes different.
                fan_in = param.shape[0] if ".upsample." in name else param[0].numel()
                param.copy_(torch.randn(param.shape, generator=generator) / fan_in**0.5)


def test_signal(samples: int, seed: int) -> np.ndarray:
    """A chirp over noise: broadband and changing, so codes differ from frame to frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    chirp = 0.4 * np.sin(2 * np.pi * (200 * t + 1500 * t**2))
    return (chirp + 0.1 * rng.standard_normal(samples)).astype(np.float32)


def reference_encode(codec: DAC, clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(clip) for clip in clips)
    batch = torch.zeros(len(clips), 1, longest)
    for row, clip in enumerate(clips):
        batch[row, 0, : len(clip)] = torch.from_numpy(clip)
    lengths = torch.tensor([len(clip) for clip in clips])
    with torch.no_grad():
        codes, frames = codec.encode(batch, lengths)
    return codes.numpy(), frames.numpy()


def reference_decode(codec: DAC, codes: np.ndarray) -> np.ndarray:
    indices = torch.from_numpy(codes)
    with torch.no_grad():
        audio, _ = codec.decode(indices, torch.tensor([indices.shape[-1]] * indices.shape[0]))
    return audio.numpy()


def fixed_codes(batch: int, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, RESIDUAL_CODES, size=(batch, 10, frames))
    codes[:, 0] = rng.integers(0, SEMANTIC_CODES, size=(batch, frames))
    return codes.astype(np.int64)


def write_goldens(codec: DAC, out: Path) -> None:
    clip = test_signal(11_000, seed=1)  # 5.4 frames: encode pads to 6
    short, long_ = test_signal(5_000, seed=2), test_signal(13_000, seed=3)
    codes, _ = reference_encode(codec, [clip])
    batch_codes, batch_frames = reference_encode(codec, [short, long_])
    decode_codes = fixed_codes(1, 40, seed=4)
    decode_codes[0, 0, 5] = SEMANTIC_CODES + 300  # out of range: the reference clamps to the last code
    decode_codes[0, 3, 7] = RESIDUAL_CODES + 77
    batch_decode_codes = fixed_codes(2, 9, seed=5)
    np.savez_compressed(
        out / "codec_goldens.npz",
        clip=clip, clip_codes=codes,
        batch_short=short, batch_long=long_, batch_codes=batch_codes, batch_frames=batch_frames,
        decode_codes=decode_codes, decode_audio=reference_decode(codec, decode_codes),
        batch_decode_codes=batch_decode_codes, batch_decode_audio=reference_decode(codec, batch_decode_codes),
        roundtrip_audio=reference_decode(codec, codes),
    )  # fmt: skip
    describe(codes, reference_decode(codec, decode_codes))


def describe(codes: np.ndarray, audio: np.ndarray) -> None:
    distinct = [len(set(row.tolist())) for row in codes[0]]
    saturated = float(np.mean(np.abs(audio) > 0.99))
    print(f"clip codes {codes.shape}, distinct per codebook {distinct}")
    print(f"decoded audio {audio.shape}: std {audio.std():.4f}, max |x| {np.abs(audio).max():.4f}, "
          f"saturated {saturated:.2%}")  # fmt: skip


def write_tiny_checkpoint(codec: DAC, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(codec.state_dict(), folder / "codec.pth")
    hparams = {
        "sample_rate": SAMPLE_RATE,
        "encoder_attention": ENCODER_ATTENTION,
        "pre_attention": PRE_ATTENTION,
        "post_attention": POST_ATTENTION,
    }
    (folder / "codec_hparams.json").write_text(json.dumps(hparams, indent=1) + "\n")


def write_full_size_shapes(out: Path) -> None:
    config_path = Path(modded_dac.__file__).parents[2] / "configs" / "modded_dac_vq.yaml"
    with torch.device("meta"):
        codec = instantiate(OmegaConf.load(config_path))
    parameters = {name for name, _ in codec.named_parameters()}
    entries = {
        name: {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
               "parameter": name in parameters}
        for name, tensor in codec.state_dict().items()
    }  # fmt: skip
    record = {
        "source": "fish-speech 0.1.0, fish_speech/configs/modded_dac_vq.yaml",
        "entries": len(entries),
        "parameters": sum(p.numel() for p in codec.parameters()),
        "state_dict": entries,
    }
    (out / "codec_full_size_state_dict.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"full size: {record['entries']} entries, {record['parameters']:,} parameters")


def main(out: Path) -> None:
    torch.set_num_threads(1)
    codec = build_tiny_codec()
    write_tiny_checkpoint(codec, out / "tiny")
    write_goldens(codec, out)
    write_full_size_shapes(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
