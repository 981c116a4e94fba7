"""How llama.cpp model names carry a GGUF re-encoding."""

from __future__ import annotations

import pytest

from bakeoff.models.converted import split_gguf_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("smollm2-135m-instruct", ("smollm2-135m-instruct", None)),
        ("smollm2-135m-instruct:f16", ("smollm2-135m-instruct", "f16")),
        ("smollm2-135m-instruct:Q8_0", ("smollm2-135m-instruct", "q8_0")),
        ("/models/qwen.Q4_K_M.gguf:bf16", ("/models/qwen.Q4_K_M.gguf", "bf16")),
        ("/models/odd:name.gguf", ("/models/odd:name.gguf", None)),  # not a type: kept whole
        ("C:/models/x.gguf", ("C:/models/x.gguf", None)),
        (":f16", (":f16", None)),
    ],
)
def test_a_known_gguf_type_after_the_last_colon_is_split_off(
    name: str, expected: tuple[str, str | None]
) -> None:
    assert split_gguf_type(name) == expected
