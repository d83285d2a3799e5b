"""Streaming decode: windows of the codec over a growing clip give (almost) the whole-clip decode."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engines.dia.conftest import request
from tts_server.engines.base import CancelToken
from tts_server.engines.dia.engine import DiaEngine, SegmentRow
from tts_server.engines.dia.streaming import SegmentJoiner, decode_codes


def test_streamed_audio_matches_a_whole_clip_decode(dia_engine: DiaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    finished: list[SegmentRow] = []
    finish = dia_engine._finish_row

    def keep_row(row: SegmentRow) -> None:
        finished.append(row)
        finish(row)

    monkeypatch.setattr(dia_engine, "_finish_row", keep_row)
    chunks = list(dia_engine.synthesize(request(frames=100), CancelToken()))
    streamed = np.concatenate([chunk.samples for chunk in chunks])
    grid = finished[-1].grid  # (the first: the voice's prompt being made)
    whole = decode_codes(dia_engine.bundle.codec, grid.new_frames(0, grid.ready_frames))
    assert len(chunks) >= 5 and streamed.shape == whole.shape
    difference, peak = float(np.abs(streamed - whole).max()), float(np.abs(whole).max())
    print(f"streamed vs whole-clip decode: max |diff| {difference:.2e}, peak {peak:.2e}")
    assert difference <= 1e-5 * peak


def test_joiner_crossfades_segments_and_holds_only_the_fade() -> None:
    joiner = SegmentJoiner(1000, fade_ms=10)
    first = joiner.feed(np.ones(50, np.float32), segment_ends=True, more_segments=True)
    assert len(first) == 40
    second = joiner.feed(np.zeros(30, np.float32), segment_ends=True, more_segments=False)
    assert len(second) == 30 and 0.9 < second[0] < 1.0 and (np.diff(second[:10]) < 0).all()
    assert not second[10:].any()
    assert len(joiner.flush()) == 0
