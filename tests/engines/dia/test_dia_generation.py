"""The batched decoder against transformers' own Dia forward, the delay grid, and the sampler."""

from __future__ import annotations

import numpy as np
import torch

from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.generation import BatchDecoder, RowSampling, sample_next
from tts_server.engines.dia.loading import DiaBundle

DELAYS = [0, 8, 9, 10, 11, 12, 13, 14, 15]
BOS, EOS, PAD = 1026, 1024, 1025


def test_batched_step_matches_transformers_forward(dia_bundle: DiaBundle) -> None:
    """Rows of different text and prefix lengths share one step and each get the logits a lone forward gives."""
    model = dia_bundle.model
    decoder: BatchDecoder[int] = BatchDecoder(model)
    generator = torch.Generator().manual_seed(3)
    texts = [[1, *b"hello there"], [2, *b"a much longer text for the second row"], [1, *b"hi"]]
    sequences = [torch.randint(0, 1024, (length, 9), generator=generator) for length in (7, 3, 1)]
    for row, (text, sequence) in enumerate(zip(texts, sequences, strict=True)):
        decoder.add(row, decoder.encode(text), sequence[:-1].numpy(), RowSampling(1.0, 1.0, 50, 3.0, row))
    inputs = torch.stack([sequence[-1] for sequence in sequences]).repeat_interleave(2, 0)[:, None, :]
    positions = torch.tensor([len(sequence) - 1 for sequence in sequences]).repeat_interleave(2)
    with torch.inference_mode():
        ours = decoder._forward_step(inputs, positions, 7).view(3, 2, 9, -1)
        for row, (text, sequence) in enumerate(zip(texts, sequences, strict=True)):
            ids = torch.tensor([text, [0] * len(text)])
            logits = model(
                input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=sequence[None].expand(2, -1, -1)
            ).logits
            theirs = logits.view(2, 9, len(sequence), -1)[:, :, -1]
            torch.testing.assert_close(ours[row], theirs, atol=1e-5, rtol=1e-5)


def test_grid_forces_prompt_and_bos_and_ends_every_channel_in_turn() -> None:
    prompt = np.arange(2 * 9).reshape(2, 9)
    grid = DelayedGrid(prompt, 3, DELAYS, bos=BOS, eos=EOS, pad=PAD)
    assert grid.prefix.shape == (2, 9)
    assert (grid.prefix[0] == BOS).all() and grid.prefix[1, 0] == prompt[0, 0] and grid.prefix[1, 1] == BOS
    steps = 0
    while not grid.done:
        grid.accept(np.full(9, 7))
        steps += 1
    assert steps == 3 + 1 + 15  # three new frames, EOS, the delay tail
    assert grid.ready_frames == 3
    np.testing.assert_array_equal(grid.new_frames(0, 3), np.full((9, 3), 7))
    # the prompt is kept where the delay pattern still shows it
    assert grid.tokens[2 + 8, 1] == prompt[1, 1]
    # each channel ends with EOS at the end frame, then pads
    end = grid.eos_frame
    assert end is not None
    for channel, delay in enumerate(DELAYS):
        assert grid.tokens[end + delay, channel] == EOS
        assert (grid.tokens[end + delay + 1 :, channel] == PAD).all()


def test_sampled_eos_ends_early() -> None:
    grid = DelayedGrid(None, 50, DELAYS, bos=BOS, eos=EOS, pad=PAD)
    grid.accept(np.full(9, 5))
    grid.accept(np.array([EOS] + [5] * 8))
    while not grid.done:
        grid.accept(np.full(9, 5))
    assert grid.ready_frames == 1


def test_sampler_is_row_wise() -> None:
    """A row's result depends on its own logits, parameters and draws only."""
    generator = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(3, 9, 1028, generator=generator), torch.randn(3, 9, 1028, generator=generator)
    params = {
        "temperature": torch.tensor([1.2, 0.0, 1.0]),
        "top_p": torch.tensor([0.95, 1.0, 0.5]),
        "top_k": torch.tensor([45, 10, 1]),
        "cfg_scale": torch.tensor([3.0, 1.0, 2.0]),
        "uniforms": torch.rand(3, 9, generator=generator),
    }
    together = sample_next(cond, uncond, eos=EOS, **params)
    for row in range(3):
        alone = sample_next(
            cond[row : row + 1], uncond[row : row + 1], eos=EOS, **{k: v[row : row + 1] for k, v in params.items()}
        )
        assert torch.equal(alone[0], together[row])
    assert (together[:, 1:] < EOS).all()
    guided = cond[2] + 2.0 * (cond[2] - uncond[2])
    guided[1:, EOS:] = float("-inf")
    assert torch.equal(together[2, 1:], guided[1:].argmax(-1))  # top-k 1 is greedy on the guided logits
