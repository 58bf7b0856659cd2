"""The policy port: turns an analysis into a decision (the learning engine plugs in here)."""

from __future__ import annotations

from typing import Protocol

from driftloop.domain.decision import TAKE_AS_GIVEN, Decision
from driftloop.domain.model import Analysis


class Policy(Protocol):
    name: str

    def decide(self, user_id: str, analysis: Analysis) -> Decision: ...


class RawPolicy:
    """Takes every analysis as given."""

    name = "raw"

    def decide(self, user_id: str, analysis: Analysis) -> Decision:
        return TAKE_AS_GIVEN
