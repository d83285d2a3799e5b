"""S1-mini's tokenizer: tiktoken byte-pair ranks plus the checkpoint's special tokens.

A checkpoint folder holds `tokenizer.tiktoken` (one `base64-token rank` pair a line) and `special_tokens.json`.
The special tokens are numbered after the ranks, in the order the JSON lists them: the ids written in that
file are not used, exactly as in fish-speech, so a file whose ids disagree with its order still loads the
way the model was trained. `<|semantic:N|>` tokens carry codebook 0 of the audio codes.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import tiktoken

from tts_server.engines.base import EngineLoadError

TOKENIZER_FILE = "tokenizer.tiktoken"
SPECIAL_TOKENS_FILE = "special_tokens.json"

IM_END = "<|im_end|>"
INTERLEAVE = "<|interleave|>"

# The split pattern S1-mini was trained with (GPT-4o's, with punctuation split out). `\s+(\?!\S)` reads as
# written in the reference: a literal "?!" after spaces, not a lookahead. It must stay that way, or some
# texts would tokenize differently from training.
SPLIT_PATTERN = "|".join(
    [
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
        r"\p{P}",
        r"[^\r\n\p{L}\p{N}]?\p{L}+",
        r"\p{N}",
        r" ?[^\s\p{L}\p{N}]+[\r\n]*",
        r"\s*[\r\n]+",
        r"\s+(\?!\S)",
        r"\s+",
    ]
)
_SEMANTIC = re.compile(r"<\|semantic:(\d+)\|>")


def speaker_token(speaker: int) -> str:
    return f"<|speaker:{speaker}|>"


class S1Tokenizer:
    """Text to token ids and back; `semantic_id(code)` maps a codebook-0 code to its token."""

    def __init__(self, ranks: dict[bytes, int], special_tokens: list[str], *, name: str = "s1") -> None:
        base = len(ranks)
        self.special_ids = {token: base + index for index, token in enumerate(special_tokens)}
        semantic = {int(m.group(1)): self.special_ids[t] for t in special_tokens if (m := _SEMANTIC.fullmatch(t))}
        if not semantic or 0 not in semantic:
            raise EngineLoadError(f"{SPECIAL_TOKENS_FILE} lists no <|semantic:0|> token; it is not an S1 tokenizer.")
        if IM_END not in self.special_ids:
            raise EngineLoadError(f"{SPECIAL_TOKENS_FILE} lists no {IM_END} token; it is not an S1 tokenizer.")
        self.semantic_begin_id = semantic[0]
        self.semantic_count = max(semantic) + 1
        if any(semantic.get(code) != self.semantic_begin_id + code for code in range(self.semantic_count)):
            raise EngineLoadError(f"The <|semantic:N|> tokens of {SPECIAL_TOKENS_FILE} are not listed in order.")
        self.semantic_end_id = self.semantic_begin_id + self.semantic_count - 1
        self.im_end_id = self.special_ids[IM_END]
        self.vocab_size = base + len(special_tokens)
        self._encoding = tiktoken.Encoding(
            name=name, pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=self.special_ids
        )

    @classmethod
    def from_folder(cls, folder: Path) -> S1Tokenizer:
        """Read tokenizer.tiktoken and special_tokens.json from a checkpoint folder."""
        ranks_path, specials_path = folder / TOKENIZER_FILE, folder / SPECIAL_TOKENS_FILE
        for path in (ranks_path, specials_path):
            if not path.is_file():
                raise EngineLoadError(f"The S1 checkpoint folder {folder} has no {path.name}.")
        try:
            ranks = read_ranks(ranks_path.read_text(encoding="utf-8"))
            specials = json.loads(specials_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngineLoadError(f"The S1 tokenizer files in {folder} could not be read: {exc}") from exc
        if not isinstance(specials, dict | list):
            raise EngineLoadError(f"{specials_path} should be a JSON object of special tokens.")
        return cls(ranks, [str(token) for token in specials], name=folder.name or "s1")

    def encode(self, text: str, *, specials: bool = False) -> list[int]:
        """Token ids of `text`. With `specials`, `<|...|>` names in it become their special tokens (for the
        prompt's own markers); without, they are spelled out byte by byte, so user text cannot forge them."""
        if specials:
            return self._encoding.encode(text, allowed_special="all", disallowed_special=())
        return self._encoding.encode(text, allowed_special=set(), disallowed_special=())

    def decode(self, tokens: list[int]) -> str:
        return self._encoding.decode(tokens)

    def token_id(self, token: str) -> int:
        return self.special_ids[token]

    def semantic_id(self, code: int) -> int:
        """The token of codebook-0 code `code` (semantic tokens are numbered consecutively)."""
        return self.semantic_begin_id + code

    def is_semantic(self, token: int) -> bool:
        return self.semantic_begin_id <= token <= self.semantic_end_id


def read_ranks(text: str) -> dict[bytes, int]:
    """tiktoken's rank file: `base64(token) rank` a line; `=` stands for the empty token and is skipped."""
    ranks: dict[bytes, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        token, rank = line.split()
        if token == "=":
            continue
        ranks[base64.b64decode(token)] = int(rank)
    return ranks
