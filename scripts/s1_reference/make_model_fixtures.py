"""Writes the S1-mini text-to-semantic test fixtures with the reference implementation (fish-speech 0.1.0).

Run it in the reference venv, never in the server's (fish-speech cannot live there):

    bash ../shared/tools/s1-reference/setup.sh /tmp/s1-reference-venv
    PYTHONPATH=../shared/tools/s1-reference/shim /tmp/s1-reference-venv/bin/python \
        scripts/s1_reference/make_model_fixtures.py tests/engines/s1/fixtures

It writes, under the given folder:
- tiny/config.json, tiny/model.pth, tiny/tokenizer.tiktoken, tiny/special_tokens.json: a tiny random DualAR
  checkpoint in the official file format (bf16 weights, as the real model.pth). The tokenizer has the 256 byte
  ranks and the special tokens, and the model's vocab is exactly their count, so every sampled id exists. Every
  norm weight is perturbed away from 1, so an implementation that skips one cannot match. The output layers are
  initialised wide, so sampling is peaked and each sampling detail (top-p, temperature, the repetition window)
  changes the codes.
- model_goldens.npz + model_goldens.json: the reference's prompts (11 x T), prefill logits of every prompt
  position and of the fast transformer's first frame (fp32), and the tokens the reference generates from
  several prompts with fixed seeds (11 x frames, fp32 on CPU).
- tokenizer_goldens.json: the reference tokenizer's ids for tricky texts.
- full_size_state_dict.json: every key and shape of the full-size S1-mini DualAR (built on the meta device from
  full_size_config.json), with its parameter count.

Our test suite compares against these files without the reference. The script is deterministic: re-running it
rewrites the same bytes (up to torch's pickle framing).
"""

from __future__ import annotations

import base64
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from fish_speech.content_sequence import ContentSequence, TextPart, VQPart
from fish_speech.models.text2semantic.inference import generate
from fish_speech.models.text2semantic.llama import (
    BaseModelArgs,
    DualARModelArgs,
    DualARTransformer,
)
from fish_speech.tokenizer import FishTokenizer

SEMANTIC_CODES = 2048  # tiny: codebook 0 has 2,048 codes (real: 4,096), so the cut to 1,024 for 1-9 matters
NUM_CODEBOOKS = 10
BASE_SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|im_start|>", "<|im_end|>", "<|phoneme_start|>",
    "<|phoneme_end|>", "<|tool_call_start|>", "<|tool_call_end|>", "<|text|>", "<|voice|>", "<|interleave|>",
    "<|audio_start|>", "<|audio_end|>", "<|audio|>", "<|speaker:0|>", "<|speaker:1|>",
]  # fmt: skip

TINY_CONFIG = {
    "model_type": "dual_ar",
    "dim": 32,
    "n_layer": 2,
    "n_head": 4,
    "n_local_heads": 2,
    "head_dim": 16,  # n_head * head_dim (64) differs from dim (32), as in S1-mini (2048 vs 1024)
    "intermediate_size": 80,
    "rope_base": 1000000.0,
    "norm_eps": 1e-6,
    "max_seq_len": 1024,
    "dropout": 0.0,
    "tie_word_embeddings": False,
    "attention_qkv_bias": False,
    "attention_o_bias": False,
    "attention_qk_norm": True,
    "codebook_size": SEMANTIC_CODES,
    "num_codebooks": NUM_CODEBOOKS,
    "use_gradient_checkpointing": False,
    "initializer_range": 0.02,
    "scale_codebook_embeddings": True,
    "n_fast_layer": 2,
    "fast_dim": 32,
    "fast_n_head": 4,
    "fast_n_local_heads": 2,
    "fast_head_dim": 8,
    "fast_intermediate_size": 48,
    "fast_attention_qkv_bias": False,
    "fast_attention_qk_norm": False,
    "fast_attention_o_bias": False,
}

# (name, prompt case, seed, temperature, top_p, repetition_penalty, max_new_tokens)
GENERATION_CASES = [
    ("plain_defaults", "plain", 42, 0.7, 0.8, 1.1, 40),
    ("plain_hot", "plain", 7, 1.0, 0.95, 1.3, 40),
    ("reference_defaults", "reference", 1234, 0.7, 0.8, 1.1, 40),
    ("reference_cold", "reference", 99, 0.3, 0.5, 1.05, 24),
]
TOKENIZER_TEXTS = [
    "Hello there! How are you?",
    "Numbers 12,345.67 and 'quotes' don't break; it's fine.\nNew line\r\n  spaces   end",
    "Ünïcödé — 中文字符, emoji 🙂 and tabs\tinside.",
    "<|im_end|> written in text <|speaker:0|>",
    "   ?! after spaces ?!",
]


def write_tokenizer(folder: Path) -> FishTokenizer:
    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    (folder / "tokenizer.tiktoken").write_text("\n".join(lines) + "\n")
    specials = BASE_SPECIALS + [f"<|semantic:{i}|>" for i in range(SEMANTIC_CODES)]
    # Written ids deliberately wrong: the reference numbers specials by file order, after the ranks.
    (folder / "special_tokens.json").write_text(json.dumps({t: 10**6 + i for i, t in enumerate(specials)}, indent=1))
    return FishTokenizer.from_pretrained(str(folder))


def build_tiny_model(folder: Path, tokenizer: FishTokenizer) -> DualARTransformer:
    config = dict(TINY_CONFIG, vocab_size=tokenizer.vocab_size + tokenizer.num_special_tokens)
    (folder / "config.json").write_text(json.dumps(config, indent=4, sort_keys=True))
    torch.manual_seed(20240601)
    model = DualARTransformer(BaseModelArgs.from_pretrained(str(folder)), tokenizer=tokenizer)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.4 * torch.randn_like(param))  # every norm counts
            elif "embeddings" in name:
                param.normal_(0.0, 0.6)
            elif name in ("output.weight", "fast_output.weight"):
                param.normal_(0.0, 0.5)  # peaked distributions: sampling details show in the codes
            else:
                param.normal_(0.0, 0.15)
    state = {key: value.to(torch.bfloat16) for key, value in model.state_dict().items()}
    torch.save(state, folder / "model.pth")
    loaded = DualARTransformer.from_pretrained(str(folder), load_weights=True)
    return loaded.to(dtype=torch.float32).eval()


def reference_codes(seed: int, frames: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    semantic = torch.randint(0, SEMANTIC_CODES, (1, frames), generator=generator)
    residual = torch.randint(0, 1024, (NUM_CODEBOOKS - 1, frames), generator=generator)
    return torch.cat([semantic, residual]).to(torch.int)


PROMPT_CASES = {
    "plain": {"text": "Hello world, this is a test of the tiny model.", "references": []},
    "reference": {
        "text": "And now something new, said in the same voice.",
        "references": [("A short reference sentence.", 0), ("Second reference; with codes.", 1)],
    },
}


def encode_prompt(tokenizer: FishTokenizer, case: dict) -> torch.Tensor:
    sequence = ContentSequence(modality="interleave")
    for text, codes_seed in case["references"]:
        codes = reference_codes(codes_seed, 12 + 5 * codes_seed)
        sequence.append([TextPart(text=text), VQPart(codes=codes)], add_end=True, speaker=0)
    sequence.append([TextPart(text=case["text"])], add_end=False, speaker=0)
    encoded, _, _ = sequence.encode_for_inference(tokenizer, num_codebooks=NUM_CODEBOOKS)
    return encoded


@torch.inference_mode()
def prefill_logits(model: DualARTransformer, prompt: torch.Tensor) -> dict[str, np.ndarray]:
    model.setup_caches(max_batch_size=1, max_seq_len=model.config.max_seq_len, dtype=torch.float32)
    positions = torch.arange(prompt.shape[1])
    result = model.forward_generate(prompt[None], positions)
    full = super(DualARTransformer, model).forward_generate(prompt[None], positions, return_all=True)
    hidden = result.hidden_states  # [1, 1, fast_dim], after fast_project_in
    for layer in model.fast_layers:
        layer.attention.kv_cache.k_cache.fill_(0)
        layer.attention.kv_cache.v_cache.fill_(0)
    model.forward_generate_fast(hidden, torch.tensor([0]))
    first_code = torch.tensor([[5]])
    fast_logits = model.forward_generate_fast(model.fast_embeddings(first_code), torch.tensor([1]))
    return {
        "last_logits": result.logits[0, -1].float().numpy(),
        "all_logits": full.logits[0].float().numpy(),
        "fast_logits_code5": fast_logits[0, -1].float().numpy(),
    }


@torch.inference_mode()
def seeded_generation(model: DualARTransformer, prompt: torch.Tensor, case: tuple) -> np.ndarray:
    _, _, seed, temperature, top_p, penalty, max_new = case
    torch.manual_seed(seed)
    y = generate(
        model=model,
        prompt=prompt,
        max_new_tokens=max_new,
        audio_masks=None,
        audio_parts=None,
        temperature=torch.tensor(temperature),
        top_p=torch.tensor(top_p),
        repetition_penalty=torch.tensor(penalty),
    )
    return y[:, prompt.shape[1] :].numpy().astype(np.int64)


def full_size_shapes(out: Path, tokenizer: FishTokenizer) -> None:
    config_path = out / "full_size_config.json"
    args = DualARModelArgs(**json.loads(config_path.read_text()))
    with torch.device("meta"):
        model = DualARTransformer(args, tokenizer=tokenizer)
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    parameters = sum(value.numel() for value in model.parameters())
    record = {"parameters": parameters, "state_dict": shapes}
    (out / "full_size_state_dict.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"full size: {len(shapes)} entries, {parameters / 1e6:.1f}M parameters")


def main(out: Path) -> None:
    tiny = out / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    tokenizer = write_tokenizer(tiny)
    model = build_tiny_model(tiny, tokenizer)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"prompts": PROMPT_CASES, "generation": [], "num_codebooks": NUM_CODEBOOKS}
    for name, case in PROMPT_CASES.items():
        prompt = encode_prompt(tokenizer, case)
        arrays[f"prompt_{name}"] = prompt.numpy().astype(np.int64)
        for key, value in prefill_logits(model, prompt).items():
            arrays[f"{key}_{name}"] = value
        for index, (_text, seed) in enumerate(case["references"]):
            arrays[f"reference_codes_{name}_{index}"] = reference_codes(seed, 12 + 5 * seed).numpy().astype(np.int64)
    for case in GENERATION_CASES:
        name, prompt_case = case[0], case[1]
        tokens = seeded_generation(model, torch.from_numpy(arrays[f"prompt_{prompt_case}"]).to(torch.int), case)
        arrays[f"generated_{name}"] = tokens
        keys = ("name", "prompt", "seed", "temperature", "top_p", "repetition_penalty", "max_new_tokens")
        meta["generation"].append(dict(zip(keys, case, strict=True)))
        stopped = int(tokens[0, -1]) == tokenizer.get_token_id("<|im_end|>")
        print(f"{name}: {tokens.shape[1]} frames{' (ended)' if stopped else ''}")
    probs = torch.softmax(torch.from_numpy(arrays["last_logits_plain"]), -1)
    entropy = float(-(probs * probs.clamp_min(1e-30).log()).sum())
    print(f"entropy of the first plain frame: {entropy:.2f} nats (uniform: {math.log(len(probs)):.2f})")
    np.savez_compressed(out / "model_goldens.npz", **arrays)
    (out / "model_goldens.json").write_text(json.dumps(meta, indent=1) + "\n")
    tokenized = [{"text": t, "ids": tokenizer.encode(t)} for t in TOKENIZER_TEXTS]
    (out / "tokenizer_goldens.json").write_text(json.dumps(tokenized, indent=1, ensure_ascii=False) + "\n")
    full_size_shapes(out, tokenizer)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/engines/s1/fixtures"))
