"""What the policy decided about an analysis, and why (stored with the trade as learningData)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    take: bool
    policy: str = "raw"
    reason: str | None = None
    size_multiplier: Decimal = Decimal(1)
    calibrated_win_prob: float | None = None
    expected_r: float | None = None
    leverage: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_learning_data(self) -> dict[str, Any]:
        """The camelCase record stored in the trade's `learningData`."""
        data: dict[str, Any] = {
            "policy": self.policy,
            "decision": "TAKE" if self.take else "SKIP",
            "reason": self.reason,
            "sizeMultiplier": str(self.size_multiplier),
            "calibratedWinProb": self.calibrated_win_prob,
            "expectedR": self.expected_r,
        }
        for key, value in (
            ("leverage", self.leverage),
            ("stopLoss", self.stop_loss),
            ("takeProfit", self.take_profit),
        ):
            if value is not None:
                data[f"suggested{key[0].upper()}{key[1:]}"] = str(value)
        data.update(self.details)
        return data


TAKE_AS_GIVEN = Decision(take=True)
