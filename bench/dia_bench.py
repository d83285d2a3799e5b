"""Dia benchmark: decoding throughput at several batch sizes, time to first streamed audio, peak memory.

Runs the engine's own continuous-batching decoder (tts_server.engines.dia.DiaEngine), on the full-size Dia
architecture (DiaConfig defaults: 1.6B parameters) with random weights, or on real weights with --model and
--codec (local folders or cached hub ids). Random weights never emit EOS, so every request runs as long as
the benchmark lets it; throughput does not depend on the weights' values.

    python bench/dia_bench.py                       # CPU here: bf16, batches 1 4 8 16, 25 timed steps each
    python bench/dia_bench.py --device cuda --compile --steps 200

Figures: frames/s (one frame = 9 codes = 512 samples at 44.1 kHz, ~86.13 per second of audio), aggregate
over the batch and per request; the real-time factor (audio seconds made per wall second); time to first
audio chunk when streaming (text encoding + ~1 s of frames + the delay and codec lookahead + one codec
window); and how close the streamed audio is to a whole-clip decode of the same codes.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tts_server.engines.base import AudioChunk, SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia import DiaEngine, DiaJob
from tts_server.engines.dia_delay import DelayedGrid
from tts_server.engines.dia_loading import DiaBundle, load_dia, resolve_device, resolve_dtype
from tts_server.engines.dia_streaming import StreamingCodec, decode_codes

NO_STREAMING = 10**9  # chunk size that keeps the codec out of the timed decoding loop
TEXTS = [
    "[S1] Dia is an open weights text to dialogue model. [S2] You get full control over scripts and voices.",
    "[S1] Wow. Amazing. (laughs) [S2] Try it now on GitHub or Hugging Face.",
    "[S1] The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up.",
    "[S1] Streaming means the first words play while the rest is still being written.",
]


def random_bundle(device: str, dtype: torch.dtype) -> DiaBundle:
    from transformers import (
        DacConfig,
        DacModel,
        DiaConfig,
        DiaFeatureExtractor,
        DiaForConditionalGeneration,
        DiaProcessor,
        DiaTokenizer,
    )

    torch.manual_seed(0)
    model: Any = DiaForConditionalGeneration._from_config(DiaConfig(), dtype=dtype)  # type: ignore[no-untyped-call]
    model = model.to(device).eval()
    codec_config = DacConfig(
        downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=1536, n_codebooks=9, codebook_size=1024,
        codebook_dim=8, sampling_rate=44_100,
    )  # fmt: skip
    codec: Any = DacModel(codec_config)
    codec = codec.to(device).eval()
    feature_extractor = DiaFeatureExtractor(sampling_rate=44_100, hop_length=512)
    processor = DiaProcessor(feature_extractor, DiaTokenizer(), codec)  # type: ignore[no-untyped-call]
    random = Path("random-weights")
    return DiaBundle(model, codec, processor, torch.device(device), dtype, random, random)


def job(index: int, frames: int, sink: list[Any] | None = None) -> DiaJob:
    request = SynthesisRequest(
        text=TEXTS[index % len(TEXTS)],
        voice=VoiceSelection("default", builtin="default"),
        sampling=SamplingParams(max_new_tokens=frames, seed=index),
        request_id=f"bench-{index}",
    )
    return DiaJob(request, sink.append if sink is not None else (lambda item: None))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(bundle: DiaBundle, batch: int, steps: int, warmup: int, compile_step: bool) -> dict[str, float]:
    """Aggregate decoding speed with `batch` requests in the batch (codec excluded: see codec_cost)."""
    engine = DiaEngine(
        bundle, max_batch=batch, compile_step=compile_step, first_chunk_frames=NO_STREAMING, chunk_frames=NO_STREAMING
    )
    for index in range(batch):
        engine.submit(job(index, frames=warmup + steps + 64))
    started = time.perf_counter()
    engine.step()  # joins every request: text encoding and cache set-up happen here
    synchronize(bundle.device)
    join_s = time.perf_counter() - started
    for _ in range(warmup - 1):
        engine.step()
    synchronize(bundle.device)
    started = time.perf_counter()
    for _ in range(steps):
        engine.step()
    synchronize(bundle.device)
    elapsed = time.perf_counter() - started
    # random weights pick EOS now and then (about 1 in 1025 tokens): count the rows really decoded
    frames = sum(list(engine.stats.batch_sizes)[-steps:])
    engine.fail_all(RuntimeError("benchmark over"))
    frames_per_s = frames / elapsed
    frame_rate = bundle.sample_rate / bundle.hop_length
    return {
        "batch": batch,
        "mean_rows": frames / steps,
        "step_ms": 1000 * elapsed / steps,
        "frames_per_s": frames_per_s,
        "frames_per_s_per_request": frames_per_s / batch,
        "realtime_factor": frames_per_s / frame_rate,
        "join_s": join_s,
    }


def time_to_first_audio(bundle: DiaBundle, compile_step: bool) -> dict[str, float]:
    """One request alone, streaming with the server's chunking (~1 s of audio per chunk)."""
    engine = DiaEngine(bundle, max_batch=1, compile_step=compile_step)
    sink: list[Any] = []
    started = time.perf_counter()
    engine.submit(job(0, frames=400, sink=sink))
    while not sink:
        engine.step()
    synchronize(bundle.device)
    elapsed = time.perf_counter() - started
    first = sink[0]
    if not isinstance(first, AudioChunk):
        raise RuntimeError(f"the request ended without audio ({first!r}); random weights chose EOS: run again")
    trace = engine.stats.traces["bench-0"]
    engine.fail_all(RuntimeError("benchmark over"))
    return {"ttfa_s": elapsed, "steps": float(trace.first_audio_step or 0), "first_chunk_s": first.duration}


def streaming_fidelity(bundle: DiaBundle, frames: int) -> dict[str, float]:
    """Streamed windows vs one whole-clip decode of the same (random) codes, plus the codec's cost."""
    config = bundle.model.config
    special = {k: getattr(config.decoder_config, f"{k}_token_id") for k in ("bos", "eos", "pad")}
    grid = DelayedGrid(None, frames, list(config.delay_pattern), **special)
    rng = np.random.default_rng(0)
    stream = StreamingCodec(bundle.codec, first_chunk_frames=86, chunk_frames=86)
    pieces, codec_s = [], 0.0
    while not grid.done:
        grid.accept(rng.integers(0, 1024, size=9))
        started = time.perf_counter()
        piece = stream.pull(grid, final=grid.done)
        codec_s += time.perf_counter() - started
        if piece is not None:
            pieces.append(piece)
    streamed = np.concatenate(pieces)
    started = time.perf_counter()
    whole = decode_codes(bundle.codec, grid.new_frames(0, grid.ready_frames))
    whole_s = time.perf_counter() - started
    error = streamed - whole
    snr = 10 * np.log10(np.sum(whole.astype(np.float64) ** 2) / max(np.sum(error.astype(np.float64) ** 2), 1e-30))
    audio_s = len(whole) / bundle.sample_rate
    return {
        "audio_s": audio_s,
        "max_abs_diff": float(np.abs(error).max()),
        "peak": float(np.abs(whole).max()),
        "snr_db": float(snr),
        "codec_streamed_s_per_audio_s": codec_s / audio_s,
        "codec_whole_s_per_audio_s": whole_s / audio_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="real Dia weights (folder or cached hub id); default: random weights")
    parser.add_argument("--codec", default="descript/dac_44khz", help="codec for --model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bfloat16", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument("--batches", default="1,4,8,16")
    parser.add_argument("--steps", type=int, default=25, help="timed decoding steps per batch size")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the decoding step")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--fidelity-frames", type=int, default=200, help="0 skips the streamed-vs-whole check")
    parser.add_argument("--skip-ttfa", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    started = time.perf_counter()
    bundle = load_dia(args.model, args.codec, device, args.dtype) if args.model else random_bundle(device, dtype)
    results: dict[str, Any] = {
        "machine": {
            "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "dtype": str(dtype),
            "compile": args.compile,
            "weights": args.model or "random (DiaConfig defaults)",
            "parameters": sum(p.numel() for p in bundle.model.parameters()),
            "load_s": time.perf_counter() - started,
        },
        "throughput": [],
    }
    print(json.dumps(results["machine"]), flush=True)
    for batch in (int(b) for b in args.batches.split(",")):
        row = throughput(bundle, batch, args.steps, args.warmup, args.compile)
        results["throughput"].append(row)
        print(json.dumps(row), flush=True)
    base = results["throughput"][0]["frames_per_s"]
    for row in results["throughput"]:
        row["speedup_vs_first"] = row["frames_per_s"] / base
    if not args.skip_ttfa:
        results["streaming"] = time_to_first_audio(bundle, args.compile)
        print(json.dumps(results["streaming"]), flush=True)
    if args.fidelity_frames:
        results["fidelity"] = streaming_fidelity(bundle, args.fidelity_frames)
        print(json.dumps(results["fidelity"]), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    results["peak_rss_gib"] = peak
    if device == "cuda":
        results["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> str:
    lines = [
        "| batch | rows decoded (mean) | step ms | frames/s (all) | frames/s per request | x real time (all) "
        "| vs batch 1 |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["throughput"]:
        lines.append(
            f"| {row['batch']} | {row['mean_rows']:.2f} | {row['step_ms']:.0f} | {row['frames_per_s']:.1f} | "
            f"{row['frames_per_s_per_request']:.2f} | {row['realtime_factor']:.3f} | {row['speedup_vs_first']:.2f}x |"
        )
    if "streaming" in results:
        s = results["streaming"]
        lines.append(f"\nTime to first audio (streaming, batch 1): {s['ttfa_s']:.1f} s after {s['steps']:.0f} steps")
    if "fidelity" in results:
        f = results["fidelity"]
        lines.append(
            f"Streamed vs whole-clip decode ({f['audio_s']:.1f} s): max |diff| {f['max_abs_diff']:.2e} "
            f"(peak {f['peak']:.2f}), SNR {f['snr_db']:.0f} dB; codec cost {f['codec_streamed_s_per_audio_s']:.2f} s "
            f"(streamed) / {f['codec_whole_s_per_audio_s']:.2f} s (whole) per audio second"
        )
    lines.append(f"Peak RSS: {results['peak_rss_gib']:.2f} GiB")
    if "peak_gpu_gib" in results:
        lines.append(f"Peak GPU memory: {results['peak_gpu_gib']:.2f} GiB")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
