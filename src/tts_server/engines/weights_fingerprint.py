"""A short id of a model's weights, naming the folder its seed voices' kept prompts live in: another model (a
fine-tune, another release) finds no prompts and makes its own, since a prompt is the model's own speech."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_SAMPLES, _SAMPLE_BYTES = 64, 1 << 16


def weights_fingerprint(config: Path, weights: Iterable[Path], recipe: str) -> str:
    """`config` whole, and of each weight file its name, size and 64 blocks of 64 KiB spread over it (a
    fine-tune changes them all; reading 4 MiB costs milliseconds, hashing gigabytes would cost seconds at every
    start), after `recipe`: how the prompts are made, so that a new recipe makes new prompts. Hub snapshots and
    plain folders alike; a copy keeps its fingerprint."""
    digest = hashlib.sha256(recipe.encode())
    digest.update(config.read_bytes())
    for path in sorted(path for path in set(weights) if path.is_file()):
        digest.update(path.name.encode())
        _hash_samples(digest, path)
    return digest.hexdigest()[:16]


def _hash_samples(digest: hashlib._Hash, path: Path) -> None:
    size = path.stat().st_size
    digest.update(size.to_bytes(8, "little"))
    with open(path, "rb") as handle:
        for index in range(_SAMPLES):
            handle.seek(index * max(0, size - _SAMPLE_BYTES) // max(1, _SAMPLES - 1))
            digest.update(handle.read(_SAMPLE_BYTES))
