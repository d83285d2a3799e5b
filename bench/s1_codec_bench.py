"""S1-mini codec benchmark: encode, whole and streamed decode, time to first audio, peak memory.

Runs our codec (tts_server.engines.s1.codec.S1Codec) at full size (S1CodecConfig defaults: 391.4M parameters with
weight norm, 391.40M once folded) with random weights initialised as fish-speech initialises them (layer scales 1e-2,
ConvNeXt gammas 1e-6): speed does not depend on the weights' values.

    python bench/s1_codec_bench.py                          # CPU, float32
    python bench/s1_codec_bench.py --device cuda --dtype bfloat16

Figures: encode of 3 s of audio; decode of 100 frames (4.64 s of audio) in one pass; the same 100 frames streamed
through S1StreamDecoder (a first chunk of --first-chunk frames, then --chunk frames at a time) with the time to the
first samples; the real-time factor of each (audio seconds per wall second); the largest difference between the
streamed and the whole decode; --streams streams pushing their next chunk together (S1StreamDecoder.push_many)
against one push each; peak memory (max RSS; on CUDA also peak GPU memory per phase).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tts_server.engines.s1.codec import S1Codec, S1StreamDecoder
from tts_server.engines.s1.codec_layers import ConvNeXtBlock
from tts_server.engines.s1.codec_transformer import LayerScale


def random_codec(device: str, dtype: torch.dtype) -> S1Codec:
    torch.manual_seed(0)
    codec = S1Codec()
    with torch.no_grad():
        for module in codec.modules():
            if isinstance(module, LayerScale):
                module.gamma.fill_(1e-2)
            elif isinstance(module, ConvNeXtBlock):
                module.gamma.fill_(1e-6)
    return codec.to(device=device, dtype=dtype).eval().requires_grad_(False)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, work: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of `repeats` runs (after one warm-up run) and the last result."""
    result = work()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        result = work()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def gpu_peak(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return round(peak, 1)


def stream_once(codec: S1Codec, codes: torch.Tensor, first: int, chunk: int, device: str) -> dict[str, Any]:
    decoder, pieces, start_at = codec.stream_decoder(), [], 0
    synchronize(device)
    start = time.perf_counter()
    first_samples_s = None
    while start_at < codes.shape[-1]:
        size = first if start_at == 0 else chunk
        pieces.append(decoder.push(codes[:, start_at : start_at + size]))
        if first_samples_s is None:
            first_samples_s = time.perf_counter() - start
        start_at += size
    pieces.append(decoder.flush())
    total = time.perf_counter() - start
    return {"first_samples_s": first_samples_s, "total_s": total, "audio": np.concatenate(pieces)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    dtype = getattr(torch, args.dtype)
    started = time.perf_counter()
    codec = random_codec(args.device, dtype)
    build_s = time.perf_counter() - started
    rss_after_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak(args.device)
    generator = torch.Generator().manual_seed(1)
    audio = (0.3 * torch.randn(1, 1, 3 * codec.sample_rate, generator=generator)).to(args.device)
    encode_s, codes = timed(args.device, lambda: codec.encode(audio), args.repeats)
    encode_gpu = gpu_peak(args.device)
    frames = torch.randint(0, 1024, (1, codec.num_codebooks, args.frames), generator=generator)
    decode_s, whole = timed(args.device, lambda: codec.decode(frames), args.repeats)
    decode_gpu = gpu_peak(args.device)
    audio_s = args.frames * codec.hop_length / codec.sample_rate
    result: dict[str, Any] = {
        "device": args.device, "dtype": args.dtype, "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in codec.parameters()), "build_s": round(build_s, 2),
        "encode_3s": {"seconds": round(encode_s, 3), "frames": codes.shape[-1], "x_real_time": round(3 / encode_s, 3),
                      "gpu_peak_mib": encode_gpu},
        "decode_whole": {"frames": args.frames, "audio_s": round(audio_s, 3), "seconds": round(decode_s, 3),
                         "x_real_time": round(audio_s / decode_s, 3), "gpu_peak_mib": decode_gpu},
        "rss_after_build_mib": round(rss_after_build), "torch": torch.__version__, "platform": platform.platform(),
    }  # fmt: skip
    whole_audio = whole[0, 0].cpu().numpy()
    result["decode_streamed"] = []
    for first in args.first_chunk:
        stream_once(codec, frames[0], first, args.chunk, args.device)  # warm-up: kernels for these shapes
        streamed = stream_once(codec, frames[0], first, args.chunk, args.device)
        result["decode_streamed"].append({
            "first_chunk_frames": first, "chunk_frames": args.chunk,
            "first_samples_s": round(streamed["first_samples_s"], 3), "seconds": round(streamed["total_s"], 3),
            "x_real_time": round(audio_s / streamed["total_s"], 3),
            "max_abs_diff_vs_whole": float(np.abs(streamed["audio"] - whole_audio).max()),
            "gpu_peak_mib": gpu_peak(args.device),
        })  # fmt: skip
    if args.streams > 1:
        result["streams_batched"] = streams_batched(codec, args)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def streams_batched(codec: S1Codec, args: argparse.Namespace) -> dict[str, Any]:
    """--streams streams, each already --chunk frames in, pushing their next --chunk frames: one push_many against
    one push per stream."""
    generator = torch.Generator().manual_seed(2)
    codes = torch.randint(0, 1024, (args.streams, codec.num_codebooks, 2 * args.chunk), generator=generator)
    first, second = codes[..., : args.chunk], codes[..., args.chunk :]

    def fresh() -> list[S1StreamDecoder]:
        decoders = [codec.stream_decoder() for _ in range(args.streams)]
        S1StreamDecoder.push_many(decoders, first)
        return decoders

    def one_by_one() -> None:
        decoders = fresh()
        synchronize(args.device)
        started = time.perf_counter()
        for row, decoder in enumerate(decoders):
            decoder.push(second[row])
        times.append(("alone", time.perf_counter() - started))

    def together() -> None:
        decoders = fresh()
        synchronize(args.device)
        started = time.perf_counter()
        S1StreamDecoder.push_many(decoders, second)
        times.append(("together", time.perf_counter() - started))

    times: list[tuple[str, float]] = []
    for _ in range(args.repeats + 1):
        one_by_one()
        together()
    best = {kind: min(t for k, t in times[2:] if k == kind) for kind in ("alone", "together")}
    return {
        "streams": args.streams, "chunk_frames": args.chunk, "one_push_each_s": round(best["alone"], 3),
        "push_many_s": round(best["together"], 3), "speedup": round(best["alone"] / best["together"], 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--frames", type=int, default=100, help="frames decoded (2,048 samples each)")
    parser.add_argument("--first-chunk", type=int, nargs="+", default=[1, 4], help="first streamed chunk(s), frames")
    parser.add_argument("--chunk", type=int, default=8, help="later streamed chunks, frames")
    parser.add_argument("--streams", type=int, default=4, help="streams decoded together by push_many (1: skip)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after a warm-up; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
