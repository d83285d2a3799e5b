"""OpenAudio S1-mini's audio codec (fish-speech's "modded DAC"): 44.1 kHz audio <-> 10 codes per 2,048 samples.

Our own implementation, loading the official codec.pth unchanged and checked against fish-speech 0.1.0's outputs
(tests/engines/s1). Code 0 of a frame comes from a semantic codebook (4,096 entries), codes 1-9 from residual
codebooks (1,024 each). Every layer is causal, so decoding streams: `S1StreamDecoder` carries each layer's
state (convolution input tails, the attention windows' keys and values) from chunk to chunk, and every pushed frame
comes back as final audio at once; `S1StreamDecoder.push_many` decodes the next chunk of several streams (each at its
own point) in one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.codec_config import S1CodecConfig
from tts_server.engines.s1.codec_layers import StreamState
from tts_server.engines.s1.codec_loading import CodecCheckpoint, read_codec_checkpoint
from tts_server.engines.s1.codec_network import Decoder, Encoder
from tts_server.engines.s1.codec_quantizer import S1Quantizer
from tts_server.engines.s1.codec_transformer import WindowedTransformer

log = logging.getLogger(__name__)

CodesLike = Tensor | NDArray[np.integer]  # integer codes, [codebooks, frames] or [batch, codebooks, frames]


class S1Codec(nn.Module):
    """Encode audio to codes and decode codes to audio. Inference only; weights arrive folded from codec.pth."""

    def __init__(self, config: S1CodecConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or S1CodecConfig()
        self.encoder = Encoder(config)
        self.quantizer = S1Quantizer(config)
        self.decoder = Decoder(config)
        self.sample_rate = config.sample_rate
        self.hop_length = config.hop_length
        self.num_codebooks = len(config.codebooks)
        self.codebook_sizes = config.codebook_sizes

    @classmethod
    def from_checkpoint(
        cls, path: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> S1Codec:
        """Load the official codec.pth. Raises EngineLoadError naming the file when it is missing or not a codec."""
        checkpoint = read_codec_checkpoint(Path(path))
        with torch.device("meta"):
            codec = cls(checkpoint.config)
        codec._adopt(checkpoint)
        return codec.to(device=device, dtype=dtype).eval().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def frames_for(self, samples: int) -> int:
        """Frames of codes that `samples` of audio encode to (the last one padded with silence)."""
        return -(-samples // self.hop_length)

    def encode(self, audio: Tensor) -> Tensor:
        """Codes [batch, codebooks, frames] (int64) of audio [batch, 1, samples] at `sample_rate`, in [-1, 1].

        A clip that is not a whole number of frames is padded with silence, as the reference does. Rows of a batch
        padded to the longest clip get the same codes as alone over their own frames (every layer is causal);
        `encode_batch` trims them.
        """
        if audio.ndim != 3 or audio.shape[1] != 1:
            raise ValueError(f"audio must be [batch, 1, samples], got {list(audio.shape)}")
        padded = F.pad(audio, (0, -audio.shape[-1] % self.hop_length))
        if padded.shape[-1] == 0:
            return torch.zeros(audio.shape[0], self.num_codebooks, 0, dtype=torch.long, device=self.device)
        with torch.no_grad():  # not inference_mode: callers may edit the codes and audio they get
            return self.quantizer.encode(self.encoder(padded.to(self.device, self.dtype)))

    def encode_batch(self, clips: Sequence[Tensor]) -> list[Tensor]:
        """Codes [codebooks, frames] of each 1-D clip, encoded in one batch."""
        if not clips:
            return []
        batch = torch.zeros(len(clips), 1, max(len(clip) for clip in clips))
        for row, clip in enumerate(clips):
            batch[row, 0, : len(clip)] = clip
        codes = self.encode(batch)
        return [codes[row, :, : self.frames_for(len(clip))] for row, clip in enumerate(clips)]

    def decode(self, codes: Tensor) -> Tensor:
        """Audio [batch, 1, frames * hop_length] (float32, in [-1, 1]) of codes [batch, codebooks, frames].

        Codes past a codebook's end are clamped to its last entry, as the reference does.
        """
        self._check_codes(codes, batched=True)
        if codes.shape[-1] == 0:
            return torch.zeros(codes.shape[0], 1, 0, device=self.device)
        with torch.no_grad():
            audio: Tensor = self.decoder(self.quantizer(codes.to(self.device)))
            return audio.float()

    def stream_decoder(self) -> S1StreamDecoder:
        """A decoder for one clip whose codes arrive a few frames at a time."""
        return S1StreamDecoder(self)

    def decode_chunk(self, codes: Tensor, state: StreamState) -> Tensor:
        """Audio of the next frames of a stream whose earlier frames went through the same `state`."""
        self._check_codes(codes, batched=True)
        with torch.no_grad():
            return self.decoder.stream(self.quantizer.stream(codes.to(self.device), state), state).float()

    def _check_codes(self, codes: Tensor, *, batched: bool) -> None:
        shape = "[batch, codebooks, frames]" if batched else "[codebooks, frames]"
        if codes.ndim != (3 if batched else 2) or codes.shape[-2] != self.num_codebooks:
            raise ValueError(f"codes must be {shape} with {self.num_codebooks} codebooks, got {list(codes.shape)}")
        if codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"codes must be integers, got {codes.dtype}")

    def _adopt(self, checkpoint: CodecCheckpoint) -> None:
        try:
            found = self.load_state_dict(checkpoint.weights, strict=False, assign=True)
        except RuntimeError as exc:  # torch lists every size mismatch, one per line after a heading
            mismatches = [line.strip() for line in str(exc).splitlines()[1:]]
            raise EngineLoadError(
                f"S1-mini codec checkpoint {checkpoint.path} does not fit: {'; '.join(mismatches[:2]) or exc}"
            ) from None
        if found.missing_keys:
            raise EngineLoadError(
                f"S1-mini codec checkpoint {checkpoint.path} lacks {len(found.missing_keys)} tensors, "
                f"e.g. {', '.join(found.missing_keys[:3])}"
            )
        if found.unexpected_keys:
            log.warning("S1-mini codec %s: ignoring %d unknown tensors, e.g. %s", checkpoint.path,
                        len(found.unexpected_keys), ", ".join(found.unexpected_keys[:3]))  # fmt: skip
        for name, module in self.named_modules():
            if isinstance(module, WindowedTransformer) and name in checkpoint.rope_tables:
                module.rotary.adopt(checkpoint.rope_tables[name])


class S1StreamDecoder:
    """Decodes one clip's codes as they arrive. Each `push` returns the audio of exactly the frames pushed
    (hop_length samples each), final at once: the codec is causal, so nothing waits for later frames."""

    def __init__(self, codec: S1Codec) -> None:
        self._codec = codec
        self._state = StreamState()
        self.frames = 0  # frames decoded so far

    def push(self, codes: CodesLike) -> NDArray[np.float32]:
        """Audio (float32, hop_length samples per frame) of the next codes [codebooks, frames]."""
        chunk = torch.as_tensor(codes)
        self._codec._check_codes(chunk, batched=False)
        if chunk.shape[-1] == 0:
            return np.zeros(0, dtype=np.float32)
        audio = self._codec.decode_chunk(chunk[None], self._state)
        self.frames += chunk.shape[-1]
        samples: NDArray[np.float32] = audio[0, 0].cpu().numpy()
        return samples

    def flush(self) -> NDArray[np.float32]:
        """The audio still held back: none, since every push is final. Kept so callers need not know that."""
        return np.zeros(0, dtype=np.float32)

    @staticmethod
    def push_many(decoders: Sequence[S1StreamDecoder], codes: CodesLike) -> list[NDArray[np.float32]]:
        """`push` for several streams of one codec in one batch: codes [streams, codebooks, frames], the same number
        of frames for every stream, each stream wherever it is. Same audio as pushing each alone (float rounding)."""
        chunk = torch.as_tensor(codes)
        if not decoders:
            return []
        codec = decoders[0]._codec
        if any(decoder._codec is not codec for decoder in decoders):
            raise ValueError("streams of different codecs cannot decode in one batch")
        codec._check_codes(chunk, batched=True)
        if chunk.shape[0] != len(decoders):
            raise ValueError(f"codes for {chunk.shape[0]} streams, but {len(decoders)} decoders")
        if chunk.shape[-1] == 0:
            return [np.zeros(0, dtype=np.float32) for _ in decoders]
        state = StreamState.stack([decoder._state for decoder in decoders])
        audio = codec.decode_chunk(chunk, state).cpu().numpy()
        for decoder, row_state in zip(decoders, state.split(len(decoders)), strict=True):
            decoder._state = row_state
            decoder.frames += chunk.shape[-1]
        return [audio[row, 0] for row in range(len(decoders))]
