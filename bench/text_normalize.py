"""Cost of text handling before synthesis: normalize_text + split_sentences on a 4,000-character text.

The text mixes prose with what normalisation works on (money, dates, times, units, percentages, ordinals,
addresses, abbreviations, markdown, Dia tags), every number drawn afresh so the word cache does not flatter
the figure; "cold" also empties that cache before each run.

Run: .venv/bin/python bench/text_normalize.py   (results recorded in bench/text_normalize.md)
"""

from __future__ import annotations

import random
import statistics
import time

from tts_server.audio.spoken_numbers import clear_spelling_cache
from tts_server.audio.text import normalize_text, split_sentences

TEMPLATES = [
    "Dr. {name} paid ${d}.{c:02d} on 2024-{m:02d}-{day:02d} at {h}:{mi:02d} pm for {f}.{g} GB of data.",
    "That is about {p}% more than in {year}, e.g. the {n}{suffix} time this quarter.",
    "Visit https://example.com/docs/{n} or write to support.{name}@example.org for details.",
    "**Note:** the {k} km run starts at {h2}:{mi:02d}; it was {t}°C and {w} mph winds!",
    "[S1] Really? (laughs) [S2] Yes, {big:,} people came, etc. It cost £{d} in total.",
    "- Item {n}: {f} kg of flour, see (the list below) for the rest.",
    "We wrote {big2:,} lines of code over {n} weeks, and the review took {h} hours.",
]
NAMES = ["smith", "jones", "garcia", "chen", "okafor", "novak"]


def sample_text(rng: random.Random, size: int = 4000) -> str:
    parts: list[str] = []
    while sum(len(part) + 1 for part in parts) < size:
        n = rng.randint(1, 99)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        parts.append(
            rng.choice(TEMPLATES).format(
                name=rng.choice(NAMES).title(), d=rng.randint(1, 9999), c=rng.randint(0, 99), m=rng.randint(1, 12),
                day=rng.randint(1, 28), h=rng.randint(1, 12), mi=rng.randint(0, 59), f=rng.randint(1, 99),
                g=rng.randint(1, 9), p=rng.randint(1, 99), year=rng.randint(1950, 2030), n=n, suffix=suffix,
                k=rng.randint(1, 50), h2=rng.randint(0, 23), t=rng.randint(-20, 40), w=rng.randint(1, 90),
                big=rng.randint(1000, 999_999), big2=rng.randint(10_000, 9_999_999),
            )
        )  # fmt: skip
    return " ".join(parts)[:size]


def measure(texts: list[str], cold: bool) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per text; CPU time is the steadier figure on a shared machine."""
    wall, cpu = [], []
    for text in texts:
        if cold:
            clear_spelling_cache()
        start, start_cpu = time.perf_counter(), time.thread_time()
        split_sentences(normalize_text(text))
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall, cpu


def main() -> None:
    rng = random.Random(0)
    texts = [sample_text(rng) for _ in range(100)]
    measure(texts[:5], cold=False)  # warm up imports and compiled patterns
    for label, cold in (("warm cache", False), ("cold cache", True)):
        wall, cpu = measure(texts, cold)
        print(
            f"{label}: wall median {statistics.median(wall):.2f} ms (best {min(wall):.2f}, worst {max(wall):.2f}); "
            f"CPU median {statistics.median(cpu):.2f} ms (best {min(cpu):.2f}, worst {max(cpu):.2f})"
        )
    sample = texts[0]
    chunks = split_sentences(normalize_text(sample))
    print(f"{len(sample)} chars in -> {len(normalize_text(sample))} chars out, {len(chunks)} chunks")


if __name__ == "__main__":
    main()
