"""How right the AI was (domain/scoring.py): direction, price accuracy, score, Brier, classification."""

from __future__ import annotations

from decimal import Decimal

import pytest

from driftloop.domain.model import OutcomeClass, Side
from driftloop.domain.outcome import DEFAULT_BREAKEVEN_PCT
from driftloop.domain.scoring import accuracy_score, brier, classify, direction_correct, price_accuracy

D = Decimal
WIN, LOSS, BE = OutcomeClass.WIN, OutcomeClass.LOSS, OutcomeClass.BREAKEVEN


@pytest.mark.parametrize(
    ("side", "entry", "exit_price", "expected"),
    [
        pytest.param(Side.LONG, "100", "100.01", True, id="long-above"),
        pytest.param(Side.LONG, "100", "100", False, id="long-equal-is-not-correct"),
        pytest.param(Side.LONG, "100", "99.99", False, id="long-below"),
        pytest.param(Side.SHORT, "100", "99.99", True, id="short-below"),
        pytest.param(Side.SHORT, "100", "100", False, id="short-equal-is-not-correct"),
        pytest.param(Side.SHORT, "100", "100.01", False, id="short-above"),
    ],
)
def test_direction_correct_is_strict(side: Side, entry: str, exit_price: str, expected: bool) -> None:
    assert direction_correct(side, D(entry), D(exit_price)) is expected


@pytest.mark.parametrize(
    ("entry", "target", "actual", "expected"),
    [
        # long target 110 from 100: span |110 − 100| = 10
        pytest.param("100", "110", "110", D(1), id="hit"),  # 1 − 0/10
        pytest.param("100", "110", "105", D("0.5"), id="halfway"),  # 1 − 5/10
        pytest.param("100", "110", "107.5", D("0.75"), id="three-quarters"),  # 1 − 2.5/10
        pytest.param("100", "110", "115", D("0.5"), id="overshoot"),  # 1 − 5/10
        pytest.param("100", "110", "100", D(0), id="at-entry"),  # 1 − 10/10
        pytest.param("100", "110", "95", D(0), id="clamped-wrong-way"),  # 1 − 15/10 = −0.5 → 0
        pytest.param("100", "110", "125", D(0), id="clamped-overshoot"),  # 1 − 15/10 = −0.5 → 0
        # short target 90 from 100: span 10
        pytest.param("100", "90", "92", D("0.8"), id="short-near"),  # 1 − 2/10
        pytest.param("100", "90", "104", D(0), id="short-clamped"),  # 1 − 14/10 → 0
        # target == entry: no span; 1 only when hit exactly
        pytest.param("100", "100", "100", D(1), id="target-equals-entry-hit"),
        pytest.param("100", "100", "100.01", D(0), id="target-equals-entry-missed"),
    ],
)
def test_price_accuracy(entry: str, target: str, actual: str, expected: Decimal) -> None:
    assert price_accuracy(D(entry), D(target), D(actual)) == expected


@pytest.mark.parametrize(
    ("correct", "accuracy", "expected"),
    [
        pytest.param(True, "0.75", D("0.75"), id="correct-keeps-accuracy"),
        pytest.param(False, "0.75", D(0), id="wrong-direction-scores-zero"),
        pytest.param(True, "0", D(0), id="correct-but-no-accuracy"),
        pytest.param(True, "1", D(1), id="perfect"),
    ],
)
def test_accuracy_score(correct: bool, accuracy: str, expected: Decimal) -> None:
    assert accuracy_score(correct, D(accuracy)) == expected


@pytest.mark.parametrize(
    ("probability", "outcome", "expected"),
    [
        pytest.param("0.7", WIN, D("0.09"), id="0.7-win"),  # (0.7 − 1)² = 0.09
        pytest.param("0.7", LOSS, D("0.49"), id="0.7-loss"),  # (0.7 − 0)² = 0.49
        pytest.param("0.7", BE, D("0.49"), id="0.7-breakeven-counts-as-not-win"),  # y = 0
        pytest.param("0.55", WIN, D("0.2025"), id="0.55-win"),  # 0.45² = 0.2025
        pytest.param("1", WIN, D(0), id="certain-and-right"),
        pytest.param("0", WIN, D(1), id="certain-and-wrong"),
        pytest.param("1", LOSS, D(1), id="certain-loss"),
        pytest.param("0.5", LOSS, D("0.25"), id="coin-flip"),  # 0.5² = 0.25
    ],
)
def test_brier(probability: str, outcome: OutcomeClass, expected: Decimal) -> None:
    assert brier(D(probability), outcome) == expected


def test_default_breakeven_band_is_five_hundredths_of_a_percent() -> None:
    assert D("0.05") == DEFAULT_BREAKEVEN_PCT


@pytest.mark.parametrize(
    ("pnl_percent", "expected"),
    [
        pytest.param("5", WIN, id="clear-win"),
        pytest.param("0.0501", WIN, id="just-above-band"),
        pytest.param("0.05", BE, id="exactly-plus-band-is-breakeven"),
        pytest.param("0.0499", BE, id="inside-band"),
        pytest.param("0", BE, id="zero"),
        pytest.param("-0.05", BE, id="exactly-minus-band-is-breakeven"),
        pytest.param("-0.0501", LOSS, id="just-below-band"),
        pytest.param("-5", LOSS, id="clear-loss"),
    ],
)
def test_classify_default_band(pnl_percent: str, expected: OutcomeClass) -> None:
    assert classify(D(pnl_percent), DEFAULT_BREAKEVEN_PCT) is expected


@pytest.mark.parametrize(
    ("pnl_percent", "band", "expected"),
    [
        pytest.param("0.1", "0.2", BE, id="0.2-inside"),
        pytest.param("0.2", "0.2", BE, id="0.2-upper-edge"),
        pytest.param("0.21", "0.2", WIN, id="0.2-above"),
        pytest.param("-0.2", "0.2", BE, id="0.2-lower-edge"),
        pytest.param("-0.21", "0.2", LOSS, id="0.2-below"),
        pytest.param("0.0501", "0.2", BE, id="default-win-is-breakeven-with-wider-band"),
        pytest.param("0", "0", BE, id="zero-band-zero"),
        pytest.param("0.0001", "0", WIN, id="zero-band-any-gain"),
        pytest.param("-0.0001", "0", LOSS, id="zero-band-any-loss"),
    ],
)
def test_classify_custom_band(pnl_percent: str, band: str, expected: OutcomeClass) -> None:
    assert classify(D(pnl_percent), D(band)) is expected
