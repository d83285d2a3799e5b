"""Dia benchmark: decoding throughput at several batch sizes, time to first streamed audio, memory, eager and
compiled (torch.compile; CUDA graphs on CUDA).

Runs the engine's own continuous-batching decoder (tts_server.engines.dia.engine.DiaEngine), on the full-size Dia
architecture (DiaConfig defaults: 1.6B parameters) with random weights, or on real weights with --model and
--codec (local folders or cached hub ids). The random weights' EOS logit is pinned to 0, so they never end a
request early and every request runs as long as the benchmark lets it; speed does not depend on the weights.

    python bench/dia_bench.py --device cuda         # a GPU: batches 1-32, eager then compiled, 200 timed steps
    python bench/dia_bench.py --threads 1           # CPU here: bf16, batches 1 4 8 16, eager, 25 timed steps
    python bench/dia_bench.py --tiny --modes eager,compiled   # a 2-layer model: checks the script, not speed

Figures: frames/s (one frame = 9 codes = 512 samples at 44.1 kHz, ~86.13 per second of audio), aggregate
over the batch and per request; the real-time factor (audio seconds made per wall second); time to first
audio chunk when streaming (text encoding + ~1 s of frames + the delay and codec lookahead + one codec
window); peak memory per batch size beside what dia.memory plans per request; and how close the streamed
audio is to a whole-clip decode of the same codes. Targets (Dia's authors: ~2.1x real time for one stream on
an RTX 4090): one stream above ~180 frames/s, and above 50x real time in aggregate at batch 32.
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
from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.engine import DiaEngine, DiaJob
from tts_server.engines.dia.loading import DiaBundle, load_dia
from tts_server.engines.dia.memory import plan_batch
from tts_server.engines.dia.streaming import StreamingCodec, decode_codes
from tts_server.engines.torch_device import resolve_device, resolve_dtype

TINY = {
    "encoder_config": {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
                       "head_dim": 16, "intermediate_size": 128},
    "decoder_config": {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                       "num_key_value_heads": 2, "head_dim": 16, "cross_num_attention_heads": 4, "cross_head_dim": 16,
                       "cross_num_key_value_heads": 4, "cross_hidden_size": 64},
}  # fmt: skip
TEXTS = [
    "[S1] Dia is an open weights text to dialogue model. [S2] You get full control over scripts and voices.",
    "[S1] Wow. Amazing. (laughs) [S2] Try it now on GitHub or Hugging Face.",
    "[S1] The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up.",
    "[S1] Streaming means the first words play while the rest is still being written.",
]


def random_bundle(device: str, dtype: torch.dtype, *, tiny: bool = False) -> DiaBundle:
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
    config = DiaConfig(**TINY) if tiny else DiaConfig()
    model: Any = DiaForConditionalGeneration._from_config(config, dtype=dtype)  # type: ignore[no-untyped-call]
    with torch.no_grad():  # channel 0's EOS logit is 0: never the best of 1,024 random logits, so no early end
        model.logits_dense.weight[config.decoder_config.eos_token_id] = 0
    model = model.to(device).eval()
    codec_config = DacConfig(
        downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=32 if tiny else 1536, n_codebooks=9,
        codebook_size=1024, codebook_dim=8, sampling_rate=44_100, encoder_hidden_size=4 if tiny else 64,
    )  # fmt: skip
    codec: Any = DacModel(codec_config)
    codec = codec.to(device).eval()
    feature_extractor = DiaFeatureExtractor(sampling_rate=44_100, hop_length=512)
    processor = DiaProcessor(feature_extractor, DiaTokenizer(), codec)  # type: ignore[no-untyped-call]
    random = Path("random-weights")
    return DiaBundle(model, codec, processor, torch.device(device), dtype, random, random)


def job(index: int, frames: int, sink: list[Any] | None = None) -> DiaJob:
    """A request on a voice of its own seed: no stored voice prompt, so only decoding is timed."""
    request = SynthesisRequest(
        text=TEXTS[index % len(TEXTS)],
        voice=VoiceSelection(f"bench-{index}"),
        sampling=SamplingParams(max_new_tokens=frames, seed=index),
        request_id=f"bench-{index}",
    )
    return DiaJob(request, sink.append if sink is not None else (lambda item: None))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def new_engine(bundle: DiaBundle, max_batch: int, compiled: bool, chunk_frames: int = 86) -> DiaEngine:
    """One engine per mode; compiled: the step is compiled and every batch bucket run once (as at start-up)."""
    engine = DiaEngine(
        bundle, max_batch=max_batch, compile_step=compiled, first_chunk_frames=chunk_frames, chunk_frames=chunk_frames
    )
    if compiled:
        started = time.perf_counter()
        engine.warm_up()
        synchronize(bundle.device)
        print(json.dumps({"compile_and_warm_up_s": time.perf_counter() - started}), flush=True)
    return engine


def throughput(engine: DiaEngine, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Aggregate speed with `batch` requests in the batch, streaming as the server does (the codec windows count)."""
    bundle = engine.bundle
    if bundle.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
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
    # real weights end requests on their own: count the rows really decoded
    frames = sum(list(engine.stats.batch_sizes)[-steps:])
    engine.fail_all(RuntimeError("benchmark over"))
    frames_per_s = frames / elapsed
    frame_rate = bundle.sample_rate / bundle.hop_length
    row = {
        "batch": batch,
        "mean_rows": frames / steps,
        "step_ms": 1000 * elapsed / steps,
        "frames_per_s": frames_per_s,
        "frames_per_s_per_request": frames_per_s / batch,
        "realtime_factor": frames_per_s / frame_rate,
        "join_s": join_s,
    }
    if bundle.device.type == "cuda":
        row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    return row


def time_to_first_audio(engine: DiaEngine) -> dict[str, float]:
    """One request alone, streaming with the server's chunking (~1 s of audio per chunk)."""
    sink: list[Any] = []
    synchronize(engine.bundle.device)
    started = time.perf_counter()
    engine.submit(job(0, frames=400, sink=sink))
    while not sink:
        engine.step()
    synchronize(engine.bundle.device)
    elapsed = time.perf_counter() - started
    first = sink[0]
    if not isinstance(first, AudioChunk):
        raise RuntimeError(f"the request ended without audio ({first!r}); random weights chose EOS: run again")
    trace = engine.stats.traces["bench-0"]
    engine.fail_all(RuntimeError("benchmark over"))
    return {
        "ttfa_s": elapsed,
        "steps": float((trace.first_audio_step or 0) - trace.submitted_step),
        "first_chunk_s": first.duration,
    }


def memory_plan(bundle: DiaBundle, ceiling: int) -> dict[str, Any]:
    """What the server would size the batch to here (dia.memory), with the model loaded."""
    plan = plan_batch(bundle.model, bundle.codec, bundle.device, ceiling=ceiling, prompt_frames=861, window_frames=114)
    return {
        "free_gib": plan.free / 1024**3,
        "per_request_mib": plan.per_request / 1024**2,
        "reserved_gib": plan.reserved / 1024**3,
        "fits": plan.fits,
        "max_batch": plan.max_batch,
    }


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
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    cuda = device == "cuda"
    batches = [int(b) for b in (args.batches or ("1,2,4,8,16,32" if cuda else "1,4,8,16")).split(",")]
    modes = (args.modes or ("compiled" if args.compile else "eager,compiled" if cuda else "eager")).split(",")
    steps = args.steps or (200 if cuda else 25)
    started = time.perf_counter()
    if args.model:
        bundle = load_dia(args.model, args.codec, device, args.dtype)
    else:
        bundle = random_bundle(device, dtype, tiny=args.tiny)
    results: dict[str, Any] = {
        "machine": {
            "device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "dtype": str(dtype),
            "modes": modes,
            "weights": args.model or ("random (tiny)" if args.tiny else "random (DiaConfig defaults)"),
            "parameters": sum(p.numel() for p in bundle.model.parameters()),
            "load_s": time.perf_counter() - started,
        },
        "memory_plan": memory_plan(bundle, max(batches)),
    }
    print(json.dumps(results["machine"]), json.dumps(results["memory_plan"]), sep="\n", flush=True)
    for mode in modes:
        results[mode] = run_mode(bundle, mode == "compiled", batches, steps, args)
    if args.fidelity_frames:
        results["fidelity"] = streaming_fidelity(bundle, args.fidelity_frames)
        print(json.dumps(results["fidelity"]), flush=True)
    results["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    if cuda:
        results["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    print(report(results, modes))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def run_mode(bundle: DiaBundle, compiled: bool, batches: list[int], steps: int, args: Any) -> dict[str, Any]:
    engine = new_engine(bundle, max(batches), compiled)
    rows = []
    for batch in batches:
        row = throughput(engine, batch, steps, args.warmup)
        rows.append(row)
        print(json.dumps({"compiled": compiled, **row}), flush=True)
    for row in rows:
        row["speedup_vs_first"] = row["frames_per_s"] / rows[0]["frames_per_s"]
    result: dict[str, Any] = {"throughput": rows}
    if not args.skip_ttfa:
        result["streaming"] = time_to_first_audio(engine)
        print(json.dumps({"compiled": compiled, **result["streaming"]}), flush=True)
    return result


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="real Dia weights (folder or cached hub id); default: random weights")
    parser.add_argument("--codec", default="descript/dac_44khz", help="codec for --model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bfloat16", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument("--batches", help="comma-separated (default: 1-32 on CUDA, 1,4,8,16 on CPU)")
    parser.add_argument("--modes", help="eager, compiled or both (default: both on CUDA, eager on CPU)")
    parser.add_argument("--compile", action="store_true", help="same as --modes compiled")
    parser.add_argument("--steps", type=int, help="timed decoding steps per batch size (default: 200 CUDA, 25 CPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer random model: checks the script quickly")
    parser.add_argument("--fidelity-frames", type=int, default=200, help="0 skips the streamed-vs-whole check")
    parser.add_argument("--skip-ttfa", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args()


def report(results: dict[str, Any], modes: list[str]) -> str:
    lines = []
    for mode in modes:
        lines += [
            f"\n{mode}:",
            "| batch | rows decoded (mean) | step ms | frames/s (all) | frames/s per request | x real time (all) "
            "| vs batch 1 | peak GPU GiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in results[mode]["throughput"]:
            peak = f"{row['peak_gpu_gib']:.1f}" if "peak_gpu_gib" in row else "-"
            lines.append(
                f"| {row['batch']} | {row['mean_rows']:.2f} | {row['step_ms']:.1f} | {row['frames_per_s']:.1f} | "
                f"{row['frames_per_s_per_request']:.2f} | {row['realtime_factor']:.3f} | "
                f"{row['speedup_vs_first']:.2f}x | {peak} |"
            )
        if "streaming" in results[mode]:
            s = results[mode]["streaming"]
            lines.append(f"Time to first audio (streaming, alone): {s['ttfa_s']:.2f} s after {s['steps']:.0f} steps")
        lines.append(targets(results[mode]["throughput"]))
    plan = results["memory_plan"]
    lines.append(
        f"\nMemory plan: {plan['free_gib']:.1f} GiB free after loading, {plan['per_request_mib']:.0f} MiB per "
        f"request, {plan['reserved_gib']:.2f} GiB kept aside: {plan['fits']} fit (batch {plan['max_batch']})"
    )
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


def targets(rows: list[dict[str, float]]) -> str:
    """The issue's targets: one stream above ~180 frames/s (2.1x real time), aggregate above 50x at batch 32."""
    one = next((row for row in rows if row["batch"] == 1), None)
    full = next((row for row in rows if row["batch"] == 32), None)
    parts = []
    if one is not None:
        parts.append(f"one stream {one['realtime_factor']:.2f}x real time (target 2.1x)")
    if full is not None:
        parts.append(f"batch 32 {full['realtime_factor']:.1f}x real time in all (target 50x)")
    return "Targets: " + ("; ".join(parts) if parts else "no batch 1 or 32 measured")


if __name__ == "__main__":
    main()
