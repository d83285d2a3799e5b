"""Speech recognition with openai-whisper, kept off the event loop.

openai-whisper is an optional extra (`pip install 'tts-server[whisper]'`): this module imports it, and
torch with it, only inside a worker thread on first use, so the server starts and runs without it.

A `WhisperService` owns one model. Loading and transcription run in worker threads
(`asyncio.to_thread`) and hold one lock, so a model serves one transcription at a time and a
reload never swaps the model under a running transcription. Audio is handed over as 16 kHz float32
arrays: whisper's own `load_audio` (which runs the ffmpeg program) is never used.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import os
import pickle
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from tts_server.asr.transcription import Transcription, language_code, segment_from, temperature_schedule
from tts_server.errors import GpuOutOfMemory, WhisperNotAvailable
from tts_server.settings import DeviceChoice

if TYPE_CHECKING:
    from whisper.model import Whisper

SAMPLE_RATE = 16_000
"""The rate `WhisperService.transcribe` expects its samples in."""
RETRY_FAILED_LOAD_AFTER_S = 300.0  # a transcription does not retry a failed load sooner (see _ensure_loaded)

DeviceName = Literal["auto", "cpu", "cuda"]

INSTALL_HINT = "Install it with: pip install 'tts-server[whisper]'."
_MODEL_HINT = (
    "Set TTS_WHISPER_MODEL to the path of a Whisper checkpoint file, or run the server once with "
    "internet access so whisper can download the size into its cache."
)
# Python modules openai-whisper needs at import time; `pip install --no-deps openai-whisper` leaves some out.
_REQUIRED_MODULES = ("torch", "numba", "tiktoken", "more_itertools")


class AsrState(StrEnum):
    UNAVAILABLE = "unavailable"  # openai-whisper (or one of its dependencies) is not installed
    NOT_LOADED = "not_loaded"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"  # the last load failed; `WhisperService.error` says why


class WhisperUnavailable(WhisperNotAvailable):
    """Whisper cannot be used: the package is missing, or the model cannot be found or loaded.

    A `ServiceError` with status 503 and code WHISPER_NOT_AVAILABLE; the message says what to do.
    """


def _missing_requirements() -> list[str]:
    """The packages openai-whisper needs that are not installed, found without importing anything."""
    missing = []
    try:
        # The distribution, not the module name: PyPI's unrelated `whisper` package also provides `whisper`.
        importlib.metadata.distribution("openai-whisper")
    except importlib.metadata.PackageNotFoundError:
        missing.append("openai-whisper")
    missing += [name.replace("_", "-") for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    return missing


def _import_whisper() -> ModuleType:
    """Import openai-whisper (and torch). Slow: call it from a worker thread."""
    return importlib.import_module("whisper")


def _default_download_root() -> str:
    # whisper.load_model's own default, spelled out so error messages can name the file.
    default = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.getenv("XDG_CACHE_HOME", default), "whisper")


class WhisperService:
    """One Whisper model, loaded on demand, used by one transcription at a time.

    `model` is a whisper size name (tiny, base, small, medium, large-v3, turbo, ...), looked up in
    whisper's cache directory (`download_root`, by default whisper's own ~/.cache/whisper) and downloaded
    there when missing and the network allows; or a path to a checkpoint file as whisper saves them.

    `transcribe_options` are extra keyword arguments for `whisper.transcribe` (beam_size, sample_len,
    condition_on_previous_text, compression_ratio_threshold, ...); per-call arguments take precedence.
    """

    def __init__(
        self,
        model: str,
        device: DeviceName | DeviceChoice = "auto",
        *,
        download_root: str | os.PathLike[str] | None = None,
        transcribe_options: Mapping[str, Any] | None = None,
    ) -> None:
        requested = DeviceChoice(device)  # ValueError on anything but auto/cpu/cuda
        self._model_name = model
        self._requested_device = requested
        self._resolved_device: str | None = None if requested is DeviceChoice.AUTO else requested.value
        self._download_root = os.fspath(download_root) if download_root is not None else None
        self._options = dict(transcribe_options or {})
        self._model: Whisper | None = None
        self._loaded_name: str | None = None
        self._state = AsrState.NOT_LOADED
        self._error: str | None = None
        self._failed: tuple[str, float] | None = None  # the model whose load failed last, and when (monotonic)
        self._missing = _missing_requirements()  # once: it scans site-packages (~0.3 ms)
        self._import_error: str | None = None
        # The thread lock guards the model and is held for the whole of every load and transcription, in
        # the worker thread, so even a cancelled caller (whose thread runs on) never overlaps the next one.
        # The asyncio lock only queues callers on the loop, so waiting callers do not each hold a thread.
        self._mutex = threading.Lock()
        self._gate = asyncio.Lock()

    # --- what /whisper/status reports ----------------------------------------------------------

    @property
    def available(self) -> bool:
        """openai-whisper and its dependencies are installed (checked without importing them)."""
        return self._import_error is None and not self._missing

    @property
    def state(self) -> AsrState:
        return self._state if self.available else AsrState.UNAVAILABLE

    @property
    def model_name(self) -> str:
        """The model asked for last: the one loaded, being loaded, or to be loaded on first use."""
        return self._model_name

    @property
    def device(self) -> str:
        """The device the model runs on: "cpu" or "cuda"; "auto" until a load has resolved it."""
        return self._resolved_device or self._requested_device.value

    @property
    def error(self) -> str | None:
        """Why Whisper cannot be used (state UNAVAILABLE or FAILED), for status and logs."""
        if not self.available:
            return self._unavailable_message()
        return self._error if self._state is AsrState.FAILED else None

    # --- async API ---------------------------------------------------------------------------------

    async def load(self, model: str | None = None) -> None:
        """Load `model` (default: the current one) unless it is loaded already; switching to another
        model replaces the loaded one. Raises WhisperUnavailable with the reason on failure."""
        self._check_available()
        name = self._model_name = model or self._model_name
        async with self._gate:
            await asyncio.to_thread(self._load_sync, name)

    async def transcribe(
        self,
        samples_16k: NDArray[np.floating[Any]],
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
    ) -> Transcription:
        """Transcribe mono 16 kHz audio, loading the model first if needed.

        `language` is a code or English name ("en", "german"); None detects it. `prompt` guides the
        first window's spelling and style. `temperature` 0 decodes greedily and, as OpenAI's API does,
        raises the temperature on windows whose decoding fails whisper's quality checks.
        Raises WhisperUnavailable, InvalidRequest (unsupported language) or GpuOutOfMemory.
        """
        self._check_available()
        audio = np.ascontiguousarray(samples_16k, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {audio.shape}")
        async with self._gate:
            return await asyncio.to_thread(
                self._transcribe_sync, audio, language=language, prompt=prompt, temperature=temperature
            )

    async def close(self) -> None:
        """Release the model (waiting for a running transcription); a later call loads it again."""
        async with self._gate:
            await asyncio.to_thread(self._unload_sync)

    # --- worker-thread side ------------------------------------------------------------------------

    def _check_available(self) -> None:
        if not self.available:
            raise WhisperUnavailable(self._unavailable_message())

    def _unavailable_message(self) -> str:
        if self._import_error is not None:
            return f"Whisper could not be imported ({self._import_error}). {INSTALL_HINT}"
        return f"Whisper is not installed (missing: {', '.join(self._missing)}). {INSTALL_HINT}"

    def _whisper(self) -> ModuleType:
        try:
            return _import_whisper()
        except ImportError as exc:
            self._import_error = str(exc) or type(exc).__name__
            raise WhisperUnavailable(self._unavailable_message()) from exc

    def _load_sync(self, name: str) -> None:
        with self._mutex:
            self._ensure_loaded(self._whisper(), name, retry_failed=True)

    def _ensure_loaded(self, whisper: ModuleType, name: str, *, retry_failed: bool) -> Whisper:
        """Return the model `name`, loading it (and dropping another) if needed. Holds `_mutex`.

        Without `retry_failed` (a transcription loading on demand), a model whose load failed less than
        RETRY_FAILED_LOAD_AFTER_S ago is not tried again: each try of a size name that is not cached goes
        to the network, and on a network that drops packets silently every upload's auto-transcription
        would wait for it. An explicit load (POST /whisper/load) always tries."""
        if self._model is not None and self._loaded_name == name:
            return self._model
        if not retry_failed and self._failed is not None and self._failed[0] == name:
            waited = time.monotonic() - self._failed[1]
            if waited < RETRY_FAILED_LOAD_AFTER_S and self._error is not None:
                raise WhisperUnavailable(
                    f"{self._error} Not retried for {RETRY_FAILED_LOAD_AFTER_S - waited:.0f} s more; "
                    "POST /whisper/load retries now."
                )
        self._state = AsrState.LOADING
        self._error = None
        try:
            # Drop the old model first: two large models at once may not fit. A failed reload leaves
            # state FAILED with the reason; loading again (any model) recovers.
            self._release_model()
            model = self._load_model(whisper, name, self._resolve_device())
        except BaseException as exc:
            self._state, self._failed = AsrState.FAILED, (name, time.monotonic())
            if isinstance(exc, WhisperUnavailable):
                self._error = exc.message
            else:
                self._error = f"Loading Whisper model '{name}' failed ({_brief(exc)})."
            raise
        self._model, self._loaded_name, self._failed = model, name, None
        self._state = AsrState.READY
        return model

    def _resolve_device(self) -> str:
        import torch

        if self._requested_device is DeviceChoice.AUTO:
            self._resolved_device = "cuda" if torch.cuda.is_available() else "cpu"
        elif self._requested_device is DeviceChoice.CUDA and not torch.cuda.is_available():
            raise WhisperUnavailable(
                "TTS_WHISPER_DEVICE is cuda but PyTorch sees no CUDA device. Set TTS_WHISPER_DEVICE to cpu or auto."
            )
        return self.device

    def _load_model(self, whisper: ModuleType, name: str, device: str) -> Whisper:
        """Load a size name through whisper's cache (downloading when missing) or a checkpoint file."""
        import torch

        sizes: list[str] = whisper.available_models()
        if name in sizes:
            source, root = name, self._download_root or _default_download_root()
        else:
            source, root = os.path.expanduser(name), None
            if not os.path.isfile(source):
                raise WhisperUnavailable(
                    f"Whisper model '{name}' is neither a size name nor an existing checkpoint file. Set "
                    f"TTS_WHISPER_MODEL to a size ({', '.join(sizes)}) or to the path of a Whisper checkpoint file."
                )
        try:
            model: Whisper = whisper.load_model(source, device=device, download_root=root)
        except torch.cuda.OutOfMemoryError as exc:
            raise WhisperUnavailable(f"Not enough GPU memory to load Whisper model '{name}'.") from exc
        except OSError as exc:
            if root is None:
                raise WhisperUnavailable(f"Could not read the Whisper checkpoint '{source}' ({_brief(exc)}).") from exc
            # Not in the cache and the download failed (offline, proxy, disk full); URLError is an OSError.
            cached = os.path.join(root, os.path.basename(whisper._MODELS[name]))
            reason = getattr(exc, "reason", None) or exc
            raise WhisperUnavailable(
                f"Whisper model '{name}' is not in whisper's cache ({cached}) and could not be "
                f"downloaded ({reason}). {_MODEL_HINT}"
            ) from exc
        except Exception as exc:  # unpickling, missing keys, wrong dims, shape mismatches, bad checksum
            # torch's own unpickling message suggests weights_only=False, which would run code from the file.
            reason = "not a weights-only PyTorch checkpoint" if isinstance(exc, pickle.UnpicklingError) else _brief(exc)
            raise WhisperUnavailable(
                f"Could not load the Whisper model '{name}' ({reason}). A checkpoint file must be saved as "
                "openai-whisper saves them: {'dims': ..., 'model_state_dict': ...}."
            ) from exc
        return model

    def _release_model(self) -> None:
        if self._model is None:
            return
        on_cuda = self._resolved_device == "cuda"
        self._model = self._loaded_name = None
        if on_cuda:
            import torch

            torch.cuda.empty_cache()

    def _unload_sync(self) -> None:
        with self._mutex:
            self._release_model()
            if self._state is not AsrState.FAILED:
                self._state = AsrState.NOT_LOADED

    def _transcribe_sync(
        self, audio: NDArray[np.float32], *, language: str | None, prompt: str | None, temperature: float
    ) -> Transcription:
        with self._mutex:
            whisper = self._whisper()
            model = self._ensure_loaded(whisper, self._model_name, retry_failed=False)
            import torch

            options: dict[str, Any] = {**self._options, "fp16": self.device == "cuda"}
            options["language"] = language_code(whisper, model, language) if language else None
            options["initial_prompt"] = prompt or None
            options["temperature"] = temperature_schedule(temperature)
            try:
                result = whisper.transcribe(model, audio, **options)
            except torch.cuda.OutOfMemoryError as exc:
                torch.cuda.empty_cache()
                raise GpuOutOfMemory("Whisper ran out of GPU memory; try shorter audio or a smaller model.") from exc
        duration = len(audio) / SAMPLE_RATE
        return Transcription(
            text=str(result["text"]).strip(),
            language=result.get("language"),
            duration=duration,
            segments=[segment_from(s, duration) for s in result["segments"]],
        )


def _brief(exc: BaseException) -> str:
    """An exception as one short line: torch's unpickling errors run to a dozen lines of advice."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
