"""Drift account and event bytes for the fake chain, built with driftpy's own IDL coder.

Accounts are built from a decoded all-zero template whose fields are replaced; events from the
decoded all-zero event body. anchorpy's encoder calls `dataclasses.asdict`, which needs a deepcopy-able
`Pubkey` (solders < 0.25: constraints/drift.txt pins 0.24.0).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import driftpy
from anchorpy import Idl
from anchorpy.coder.coder import Coder
from anchorpy.program.common import NamedInstruction

BUNDLED_IDL = Path(next(iter(driftpy.__path__))) / "idl" / "drift.json"
_SIZES = {
    "User": 4376,
    "UserStats": 240,
    "State": 992,
    "PerpMarket": 1216,
    "SpotMarket": 776,
    "PythLazerOracle": 48,
}


class DriftCodec:
    """Encode/decode Drift accounts, events and instructions with an IDL (default: driftpy's own)."""

    def __init__(self, idl_path: Path = BUNDLED_IDL) -> None:
        self.idl = Idl.from_json(idl_path.read_text())
        self.coder = Coder(self.idl)
        self._templates: dict[str, Any] = {}

    def template(self, account: str) -> Any:
        """A decoded all-zero account of that type (its dataclass, ready for `dataclasses.replace`; shared,
        so never mutate it in place)."""
        if account not in self._templates:
            disc = self.coder.accounts.acc_name_to_discriminator[account]
            self._templates[account] = self.coder.accounts.decode(disc + bytes(_SIZES[account] - 8))
        return self._templates[account]

    def encode(self, account: str, value: Any) -> bytes:
        return bytes(self.coder.accounts.build(NamedInstruction(name=account, data=value)))

    def decode(self, data: bytes) -> Any:
        return self.coder.accounts.decode(data)

    def event_template(self, name: str) -> Any:
        key = "event:" + name
        if key not in self._templates:
            self._templates[key] = self.coder.events.layouts[name].parse(bytes(4096))
        return self._templates[key]

    def event_line(self, name: str, value: Any) -> str:
        """A `Program data: …` log line carrying the event, as the program emits it."""
        disc = hashlib.sha256(f"event:{name}".encode()).digest()[:8]
        body = self.coder.events.layouts[name].build(value)
        return "Program data: " + base64.b64encode(disc + body).decode()

    def parse_instruction(self, data: bytes) -> Any:
        return self.coder.instruction.parse(data)

    def error_code(self, name: str) -> int:
        """The program's custom error code of an IDL error name (e.g. `UserOrderIdAlreadyInUse`)."""
        for error in self.idl.errors or []:
            if error.name == name:
                return int(error.code)
        raise KeyError(name)


def variant(sample: Any, name: str) -> Any:
    """The IDL enum variant `name` of the enum `sample` (a decoded value) belongs to."""
    return getattr(type(sample).__mro__[1], name)()


def replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)
