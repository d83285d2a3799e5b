"""Times fish-speech 0.1.0's own full-size codec (random weights), for comparison with bench/s1_codec_bench.py.

Run it in the reference venv, right before or after the bench with the same --threads and --frames:

    PYTHONPATH=../shared/tools/s1-reference/shim /tmp/s1-ref-codec-venv/bin/python \
        scripts/s1_reference/time_reference_codec.py --threads 1 --frames 100

It measures what the bench measures for whole clips: encode of 3 s of audio and decode of --frames frames (the
reference has no streaming decode), best of --repeats runs after a warm-up, fp32 on CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fish_speech.models.dac.modded_dac as modded_dac
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf


def best_of(work: Callable[[], Any], repeats: int) -> float:
    work()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = OmegaConf.load(Path(modded_dac.__file__).parents[2] / "configs" / "modded_dac_vq.yaml")
    codec = instantiate(config).eval()
    generator = torch.Generator().manual_seed(1)
    audio = 0.3 * torch.randn(1, 1, 3 * 44100, generator=generator)
    codes = torch.randint(0, 1024, (1, 10, args.frames), generator=generator)
    with torch.no_grad():
        encode_s = best_of(lambda: codec.encode(audio, torch.tensor([audio.shape[-1]])), args.repeats)
        decode_s = best_of(lambda: codec.decode(codes, torch.tensor([args.frames])), args.repeats)
    audio_s = args.frames * 2048 / 44100
    print(json.dumps({
        "implementation": "fish-speech 0.1.0", "threads": torch.get_num_threads(),
        "encode_3s_seconds": round(encode_s, 3), "decode_frames": args.frames, "decode_seconds": round(decode_s, 3),
        "decode_x_real_time": round(audio_s / decode_s, 3),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
