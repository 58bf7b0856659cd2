"""Deterministic identifiers (domain/ids.py)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftloop.domain.ids import b58encode, digest, signature_like, stable_id

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """Independent decoder for the round trips (leading '1's are leading zero bytes)."""
    number = 0
    for char in text:
        number = number * 58 + ALPHABET.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"\x00", "1", id="one-zero-byte"),
        pytest.param(b"\x00\x00", "11", id="two-zero-bytes"),
        pytest.param(b"\x01", "2", id="one"),  # digit 1 → '2'
        pytest.param(b"\x00\x00\x01", "112", id="zeros-then-one"),  # two '1' pads + '2'
        pytest.param(b"\x39", "z", id="57-last-digit"),  # 57 → the 58th character 'z'
        pytest.param(b"\x3a", "21", id="58"),  # 58 = 1·58 + 0 → '2','1'
        pytest.param(b"\x00\x3a", "121", id="zero-then-58"),
        pytest.param(b"\xff", "5Q", id="255"),  # 255 = 4·58 + 23 → '5', ALPHABET[23] = 'Q'
        pytest.param(b"\x01\x00", "5R", id="256"),  # 256 = 4·58 + 24 → '5','R'
        pytest.param(b"a", "2g", id="0x61"),  # 97 = 1·58 + 39 → '2', ALPHABET[39] = 'g'
        pytest.param(b"hello world", "StV1DL6CwTryKyV", id="hello-world"),
        # Bitcoin Core src/test/data/base58_encode_decode.json
        pytest.param(bytes.fromhex("626262"), "a3gV", id="btc-626262"),
        pytest.param(bytes.fromhex("636363"), "aPEr", id="btc-636363"),
        pytest.param(
            bytes.fromhex("73696d706c792061206c6f6e6720737472696e67"),
            "2cFupjhnEsSn59qHXstmK2ffpLv2",
            id="btc-simply-a-long-string",
        ),
        pytest.param(
            bytes.fromhex("00eb15231dfceb60925886b67d065299925915aeb172c06647"),
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
            id="btc-address",
        ),
        pytest.param(bytes.fromhex("516b6fcd0f"), "ABnLTmg", id="btc-516b6fcd0f"),
        pytest.param(bytes.fromhex("bf4f89001e670274dd"), "3SEo3LWLoPntC", id="btc-bf4f89"),
        pytest.param(bytes.fromhex("572e4794"), "3EFU7m", id="btc-572e4794"),
        pytest.param(bytes.fromhex("ecac89cad93923c02321"), "EJDM8drfXA6uyA", id="btc-ecac89"),
        pytest.param(bytes.fromhex("10c8511e"), "Rt5zm", id="btc-10c8511e"),
        pytest.param(bytes(10), "1111111111", id="btc-ten-zero-bytes"),
    ],
)
def test_b58encode_known_vectors(data: bytes, expected: str) -> None:
    assert b58encode(data) == expected
    assert b58decode(expected) == data


@given(st.binary(max_size=80))
def test_b58encode_round_trips(data: bytes) -> None:
    encoded = b58encode(data)
    assert set(encoded) <= set(ALPHABET)
    assert b58decode(encoded) == data


def test_signature_like_is_64_bytes_of_base58() -> None:
    sig = signature_like("user-1", "analysis-7", "entry")
    assert set(sig) <= set(ALPHABET)
    assert len(b58decode(sig)) == 64
    assert 86 <= len(sig) <= 88  # 64 bytes are at most 88 base58 characters
    expected = b58encode(hashlib.sha512(b"user-1\x1fanalysis-7\x1fentry").digest())
    assert sig == expected


def test_signature_like_is_deterministic_and_input_sensitive() -> None:
    assert signature_like("a", "b") == signature_like("a", "b")
    assert signature_like("a", "b") != signature_like("b", "a")
    assert signature_like("a", "b") != signature_like("ab")  # the separator keeps parts apart


def test_digest() -> None:
    # sha256 of the empty string
    assert digest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert digest("") == digest()
    assert digest("a", "b") == hashlib.sha256(b"a\x1fb").hexdigest()
    assert digest("a", "b") != digest("ab")
    assert digest("a", "b") == digest("a", "b")


def test_stable_id() -> None:
    value = stable_id("trd", "user-1", "analysis-7")
    assert value == "trd_" + hashlib.sha256(b"user-1\x1fanalysis-7").hexdigest()[:24]
    assert len(value) == len("trd_") + 24
    assert stable_id("trd", "user-1", "analysis-7") == value
    assert stable_id("fil", "user-1", "analysis-7") != value
    assert stable_id("x", "p", length=8) == "x_" + hashlib.sha256(b"p").hexdigest()[:8]
