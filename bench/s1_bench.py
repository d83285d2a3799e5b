"""S1-mini throughput and latency at full size with random weights: what the batch buys, on this CPU or a GPU.

    .venv/bin/python bench/s1_bench.py                       # CPU, bf16, batches 1 4 8 16
    .venv/bin/python bench/s1_bench.py --device cuda --batches 1 8 32 --steps 64 --compile

Builds the full-size DualAR (860.2M parameters, from tests/engines/s1/fixtures/full_size_config.json) and the
full-size codec (391.4M) with random weights in the chosen dtype, and measures:

- generation frames/s at each batch size: every row continues its own prompt (a 10 s voice prompt + a
  sentence, as a named voice's request); the batch sizes take turns, `--repeats` rounds of `--steps` steps,
  and the median round counts; aggregate = all rows' frames per second, per stream = aggregate / batch;
- the same through the engine with the codec streaming every row's audio (`--no-codec` skips it);
- streamed against whole-clip decode of the same 64 frames (max absolute difference);
- time to first streamed audio for one request: submit -> first AudioChunk (prefill of the prompt, the first
  window of frames, their decode);
- peak memory (CPU: max RSS; CUDA: max allocated).

Random weights never end a chunk, so every row runs for as long as it is measured. Results go to
bench/results/s1_bench_<device>.json with the command, the date and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tts_server.engines.base import CancelToken, SamplingParams, SynthesisRequest, VoiceSelection  # noqa: E402
from tts_server.engines.s1.codec import S1Codec  # noqa: E402
from tts_server.engines.s1.config import S1ModelConfig  # noqa: E402
from tts_server.engines.s1.engine import S1Engine  # noqa: E402
from tts_server.engines.s1.generation import BatchGenerator  # noqa: E402
from tts_server.engines.s1.jobs import S1Job  # noqa: E402
from tts_server.engines.s1.loading import S1Bundle  # noqa: E402
from tts_server.engines.s1.model import DualARModel  # noqa: E402
from tts_server.engines.s1.prompt import VoicePrompt, build_prompt  # noqa: E402
from tts_server.engines.s1.sampling import SamplingSettings  # noqa: E402
from tts_server.engines.s1.streaming import RowAudio  # noqa: E402
from tts_server.engines.s1.tokenizer import S1Tokenizer  # noqa: E402
from tts_server.engines.s1.voices import BUILTIN_SEEDS  # noqa: E402

CONFIG = ROOT / "tests" / "engines" / "s1" / "fixtures" / "full_size_config.json"
FRAMES_PER_SECOND = 44_100 / 2048
SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods."
SETTINGS = SamplingSettings(0.7, 0.8, 1.1)


def bench_tokenizer() -> S1Tokenizer:
    """Byte ranks plus S1's markers and 4,096 semantic tokens: the ids the prompt needs (the model's vocabulary
    stays full size; which text tokens exist does not change the work)."""
    specials = ["<|im_end|>", "<|interleave|>", "<|speaker:0|>"] + [f"<|semantic:{i}|>" for i in range(4096)]
    return S1Tokenizer({bytes([b]): b for b in range(256)}, specials, name="bench")


def random_model(tokenizer: S1Tokenizer, device: torch.device, dtype: torch.dtype) -> DualARModel:
    config = S1ModelConfig.from_file(CONFIG)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = DualARModel(config, semantic_begin_id=tokenizer.semantic_begin_id,
                                semantic_end_id=tokenizer.semantic_end_id)  # fmt: skip
    finally:
        torch.set_default_dtype(previous)
    model = model.to_empty(device=device)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0) if name.endswith("norm.weight") else param.normal_(0.0, 0.02)
    model.init_rope(device)
    return model.eval().requires_grad_(False)


def random_codec(device: torch.device, dtype: torch.dtype) -> S1Codec:
    torch.manual_seed(0)
    with torch.device(device):
        codec = S1Codec()
    return codec.to(dtype=dtype).eval().requires_grad_(False)


def voice_prompt(seconds: float = 10.0) -> VoicePrompt:
    rng = np.random.default_rng(0)
    frames = round(seconds * FRAMES_PER_SECOND)
    codes = np.concatenate([rng.integers(0, 4096, (1, frames)), rng.integers(0, 1024, (9, frames))])
    return VoicePrompt("This is the voice of the narrator, speaking calmly and clearly.", codes.astype(np.int64))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def generation_rates(
    bundle: S1Bundle, batches: list[int], steps: int, repeats: int, compile_step: bool
) -> list[dict[str, float]]:
    """Frames per second of the model alone (no codec) at each batch size. Every batch keeps its own rows; the
    sizes take turns (`repeats` rounds of `steps` steps each) and the median round counts, so a busy host slows
    every size alike instead of whichever ran during the busy minute."""
    prompt = build_prompt(bundle.tokenizer, SENTENCE, [voice_prompt()], num_codebooks=10)
    generators: dict[int, BatchGenerator[int]] = {}
    for batch in batches:
        generator: BatchGenerator[int] = BatchGenerator(bundle.model, device=bundle.device, dtype=bundle.dtype)
        if compile_step:
            generator.enable_compile()
        for row in range(batch):
            generator.add(row, prompt, SETTINGS, seed=row)
        generator.step()  # warm-up (and, compiled, the first trace at this batch size)
        generators[batch] = generator
    rounds: dict[int, list[float]] = {batch: [] for batch in batches}
    for _ in range(repeats):
        for batch, generator in generators.items():
            sync(bundle.device)
            start = time.perf_counter()
            for _ in range(steps):
                generator.step()
            sync(bundle.device)
            rounds[batch].append((time.perf_counter() - start) / steps)
    rows = []
    for batch, seconds in rounds.items():
        step = float(np.median(seconds))
        rows.append({
            "batch": batch,
            "step_ms": 1000 * step,
            "step_ms_rounds": [round(1000 * value, 1) for value in seconds],
            "frames_per_s": batch / step,
            "per_stream_frames_per_s": 1 / step,
            "realtime_streams": batch / step / FRAMES_PER_SECOND,
        })  # fmt: skip
    return rows


def engine_rate(bundle: S1Bundle, batch: int, steps: int, compile_step: bool) -> dict[str, float]:
    """Frames per second through the engine, every row's audio streamed through the codec as it comes."""
    engine = S1Engine(bundle, max_batch=batch, max_new_tokens=steps + 2, first_window=10, window=43,
                      compile_step=compile_step)  # fmt: skip
    engine.kept_voices.keep(BUILTIN_SEEDS["default"], voice_prompt())
    audio_seconds = [0.0]

    def collect(item: Any) -> None:
        if item is not None and not isinstance(item, BaseException):
            audio_seconds[0] += item.duration

    for row in range(batch):
        request = SynthesisRequest(text=SENTENCE, voice=VoiceSelection("default", builtin="default"),
                                   sampling=SamplingParams(seed=row), request_id=f"bench-{row}")  # fmt: skip
        engine.submit(S1Job(request, collect))
    engine.step()  # joins every row (prefills) and decodes the first step
    sync(bundle.device)
    start = time.perf_counter()
    while engine.step():
        pass
    sync(bundle.device)
    elapsed = time.perf_counter() - start
    frames = batch * steps
    return {"batch": batch, "frames_per_s": frames / elapsed, "audio_seconds": audio_seconds[0],
            "realtime_factor": audio_seconds[0] / elapsed}  # fmt: skip


def first_audio(bundle: S1Bundle, compile_step: bool) -> dict[str, float]:
    """One request on an idle engine: from submit to its first streamed audio (after one untimed request)."""
    engine = S1Engine(bundle, max_batch=1, max_new_tokens=12, first_window=10, window=43, compile_step=compile_step)
    engine.kept_voices.keep(BUILTIN_SEEDS["default"], voice_prompt())
    request = SynthesisRequest(text=SENTENCE, voice=VoiceSelection("default", builtin="default"),
                               sampling=SamplingParams(seed=1))  # fmt: skip
    for _ in engine.synthesize(request, CancelToken()):
        pass
    sync(bundle.device)
    start = time.perf_counter()
    chunks = engine.synthesize(request, CancelToken())
    first = next(chunks)
    sync(bundle.device)
    elapsed = time.perf_counter() - start
    for _ in chunks:
        pass
    return {"seconds": elapsed, "first_chunk_audio_seconds": first.duration}


def stream_vs_whole(codec: S1Codec, frames: int = 64) -> dict[str, float]:
    """The same codes decoded as one clip and streamed in the engine's windows (10, then 43 frames)."""
    rng = np.random.default_rng(1)
    codes = np.concatenate([rng.integers(0, 4096, (1, frames)), rng.integers(0, 1024, (9, frames))])
    whole = codec.decode(torch.from_numpy(codes)[None])[0, 0].float().cpu().numpy()
    stream = RowAudio(codec, first_window=10, window=43)
    pieces = []
    for column in codes.T:
        stream.add(column)
        pieces.append(stream.pull())
    pieces.append(stream.pull(final=True))
    streamed = np.concatenate(pieces)
    difference = float(np.abs(streamed - whole).max())
    return {"frames": frames, "max_abs_difference": difference, "max_abs_sample": float(np.abs(whole).max())}


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=3, help="decoding steps per round and batch size")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the batch sizes (median counts)")
    parser.add_argument(
        "--engine-batches", type=int, nargs="*", default=[1, 8], help="batch sizes also run through the engine"
    )
    parser.add_argument("--no-codec", action="store_true", help="skip the engine (codec) runs and first audio")
    parser.add_argument("--compile", action="store_true", help="torch.compile the decoding steps")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.manual_seed(0)
    tokenizer = bench_tokenizer()
    started = time.perf_counter()
    model = random_model(tokenizer, device, dtype)
    codec = random_codec(device, dtype)
    bundle = S1Bundle(model, tokenizer, codec, device, dtype, Path("random"))
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_before": Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "dtype": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "parameters_model_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "parameters_codec_m": round(sum(p.numel() for p in codec.parameters()) / 1e6, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
        "generation": [],
        "engine": [],
    }
    print(f"built in {result['build_seconds']} s: model {result['parameters_model_m']}M, codec "
          f"{result['parameters_codec_m']}M parameters on {result['device']} ({args.dtype})", flush=True)  # fmt: skip
    result["generation"] = generation_rates(bundle, args.batches, args.steps, args.repeats, args.compile)
    for row in result["generation"]:
        print(f"generation batch {row['batch']:3d}: {row['step_ms']:8.1f} ms/step  {row['frames_per_s']:8.1f} frames/s "
              f"({row['per_stream_frames_per_s']:.2f} per stream, {row['realtime_streams']:.3f}x real time; rounds "
              f"{row['step_ms_rounds']} ms)", flush=True)  # fmt: skip
    one = result["generation"][0]["frames_per_s"] if args.batches[0] == 1 else None
    for row in result["generation"]:
        row["speedup_vs_batch_1"] = round(row["frames_per_s"] / one, 2) if one else None
    if not args.no_codec:
        result["stream_vs_whole"] = stream_vs_whole(codec)
        print(f"streamed vs whole decode: max |difference| {result['stream_vs_whole']['max_abs_difference']:.3g} "
              f"(max |sample| {result['stream_vs_whole']['max_abs_sample']:.3g})", flush=True)  # fmt: skip
        result["first_audio"] = first_audio(bundle, args.compile)
        print(f"first streamed audio: {result['first_audio']['seconds']:.2f} s", flush=True)
        for batch in args.engine_batches:
            row = engine_rate(bundle, batch, args.steps, args.compile)
            result["engine"].append(row)
            print(f"engine+codec batch {batch:3d}: {row['frames_per_s']:8.1f} frames/s, "
                  f"{row['realtime_factor']:.2f}x real time", flush=True)  # fmt: skip
    result["peak_memory_gb"] = round(peak_memory_gb(device), 2)
    result["loadavg_after"] = Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else None
    out = args.out or ROOT / "bench" / "results" / f"s1_bench_{device.type}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"peak memory {result['peak_memory_gb']} GB; written to {out}")


if __name__ == "__main__":
    main()
