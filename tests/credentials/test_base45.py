"""RFC 9285 Base45: vectors and strict decoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.credentials.base45 import ALPHABET, b45decode, b45encode, encoded_length

RFC_VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
]


@pytest.mark.parametrize(("raw", "text"), RFC_VECTORS)
def test_rfc_vectors_encode(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text


@pytest.mark.parametrize(("raw", "text"), RFC_VECTORS)
def test_rfc_vectors_decode(raw: bytes, text: str) -> None:
    assert b45decode(text) == raw


def test_rfc_decode_example() -> None:
    assert b45decode("QED8WEX0") == b"ietf!"


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # RFC 9285 section 6: 65536 does not fit in two bytes
        ":::",  # 44 + 44*45 + 44*2025 > 65535
        "::",  # final pair 44 + 44*45 > 255
        "Z6",  # 35 + 6*45 = 305 > 255
        "A",  # length 3k+1
        "BB8A",
        "bb8",  # lowercase is not in the alphabet
        "BB#",
        "BB\n",
        "ÄB8",
        "BB8\x00",
    ],
)
def test_strict_decoding_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        b45decode(text)


def test_boundaries() -> None:
    assert b45decode(b45encode(b"\xff\xff")) == b"\xff\xff"
    assert b45encode(b"\xff\xff") == "FGW"
    assert b45encode(b"\xff") == "U5"
    assert b45decode("U5") == b"\xff"


@settings(max_examples=300, database=None, deadline=None)
@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert len(text) == encoded_length(len(data))
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == data


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_decode_is_canonical(text: str) -> None:
    """Whatever decodes re-encodes to the same text (one text per byte string)."""
    try:
        data = b45decode(text)
    except ValueError:
        return
    assert b45encode(data) == text


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(max_size=60))
def test_decode_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        b45decode(text)
