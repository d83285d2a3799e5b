from __future__ import annotations

import pytest

from tts_server.errors import ErrorCode, InvalidId
from tts_server.store.ids import is_valid_voice_id, validate_voice_id


@pytest.mark.parametrize("value", ["a", "my_voice", "Voice-2", "x" * 64, "0", "_-_"])
def test_valid_ids_pass_unchanged(value: str) -> None:
    assert validate_voice_id(value, "voice_id") == value
    assert is_valid_voice_id(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "it is empty"),
        ("x" * 65, "it has 65 characters"),
        ("../x", "contains '.'"),
        ("..", "contains '.'"),
        ("a/b", "contains '/'"),
        ("a\\b", "contains '\\\\'"),
        ("a.b", "contains '.'"),
        (" ", "contains ' '"),
        ("my voice", "contains ' '"),
        ("\x00", "contains '\\x00'"),
        ("a\nb", "contains '\\n'"),
        ("stimme_\u00e4", "contains '\u00e4'"),
    ],
)
def test_invalid_ids_are_a_400_that_says_why(value: str, says: str) -> None:
    with pytest.raises(InvalidId) as info:
        validate_voice_id(value, "prompt_id")
    error = info.value
    assert error.status_code == 400
    assert error.code is ErrorCode.INVALID_ID
    assert error.param == "prompt_id"
    assert "'prompt_id' must be 1-64 characters of letters, digits, '_' or '-'" in error.message
    assert says in error.message
    assert not is_valid_voice_id(value)
