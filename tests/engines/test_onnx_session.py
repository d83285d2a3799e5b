"""onnxruntime sessions of the ONNX voices: the thread count asked for, and idle threads that sleep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_server.engines.onnx_voices.session import open_session
from tts_server.engines.piper.voices import bundled_voice_paths
from tts_server.settings import Settings


def test_sessions_use_the_threads_asked_for_and_do_not_spin() -> None:
    paths = bundled_voice_paths()
    assert paths is not None, "the bundled Piper voice is a dependency"
    options = open_session(paths[0], threads=2).get_session_options()
    assert options.intra_op_num_threads == 2
    # a spinning idle thread would burn a core another worker process is speaking on
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_every_worker_may_use_the_cores_up_to_four(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for cores, threads in ((1, 1), (2, 2), (16, 4)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        settings = Settings(data_dir=tmp_path, onnx_workers=None, onnx_threads=None)
        assert settings.onnx_thread_count == threads
    assert Settings(data_dir=tmp_path, onnx_threads=3).onnx_thread_count == 3
