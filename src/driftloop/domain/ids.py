"""Deterministic identifiers: the same inputs always give the same ids."""

from __future__ import annotations

import hashlib

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_LIMB = 58**10
_PAIR_BASE = 58 * 58
_PAIRS = [_B58[i // 58] + _B58[i % 58] for i in range(_PAIR_BASE)]


def b58encode(data: bytes) -> str:
    """Bitcoin/Solana base58 (leading zero bytes become '1')."""
    number = int.from_bytes(data, "big")
    limbs = []  # base 58**10 limbs: few big-int divisions, the rest on small ints
    while number:
        number, limb = divmod(number, _LIMB)
        limbs.append(limb)
    out = []
    for limb in limbs:
        for _ in range(5):
            limb, pair = divmod(limb, _PAIR_BASE)
            out.append(_PAIRS[pair])
    text = "".join(reversed(out)).lstrip("1")
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + text


def digest(*parts: str) -> str:
    """Short stable hex digest of the parts (unit-separator joined)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def stable_id(prefix: str, *parts: str, length: int = 24) -> str:
    return f"{prefix}_{digest(*parts)[:length]}"


def signature_like(*parts: str) -> str:
    """A Solana-signature-shaped id: base58 of 64 deterministic bytes."""
    return b58encode(hashlib.sha512("\x1f".join(parts).encode()).digest())
