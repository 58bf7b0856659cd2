"""Paper-fill rules for one candle (domain/triggers.py; ARCHITECTURE.md Paper fills 1-4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from driftloop.domain.model import ExitReason, Side
from driftloop.domain.pnl import liquidation_price
from driftloop.domain.triggers import (
    Bracket,
    Exit,
    entry_fill,
    liquidation_level,
    market_fill,
    resolve_bar,
    time_limit_exit,
)

D = Decimal
SL, TP, LIQ, TL = ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT, ExitReason.LIQUIDATION, ExitReason.TIME_LIMIT


# --------------------------------------------------------------------------- market fills


@pytest.mark.parametrize(
    ("side_sign", "open_", "s", "expected"),
    [
        pytest.param(1, "50", "0.01", D("50.5"), id="buy"),  # 50·1.01
        pytest.param(-1, "50", "0.01", D("49.5"), id="sell"),  # 50·0.99
        pytest.param(1, "50", "0", D(50), id="no-slippage"),
    ],
)
def test_market_fill(side_sign: int, open_: str, s: str, expected: Decimal) -> None:
    assert market_fill(side_sign, D(open_), D(s)) == expected


@pytest.mark.parametrize(
    ("side", "open_", "s", "expected"),
    [
        pytest.param(Side.LONG, "100", "0.001", D("100.1"), id="long-buys-higher"),  # 100·1.001
        pytest.param(Side.SHORT, "100", "0.001", D("99.9"), id="short-sells-lower"),  # 100·0.999
        pytest.param(Side.LONG, "100", "0", D(100), id="long-no-slippage"),
        pytest.param(Side.SHORT, "100", "0", D(100), id="short-no-slippage"),
    ],
)
def test_entry_fill(side: Side, open_: str, s: str, expected: Decimal) -> None:
    assert entry_fill(side, D(open_), D(s)) == expected


@pytest.mark.parametrize(
    ("side", "open_", "s", "expected_price"),
    [
        pytest.param(Side.LONG, "100", "0.002", D("99.8"), id="long-sells-lower"),  # 100·0.998
        pytest.param(Side.SHORT, "100", "0.002", D("100.2"), id="short-buys-higher"),  # 100·1.002
        pytest.param(Side.LONG, "104", "0", D(104), id="long-no-slippage"),
    ],
)
def test_time_limit_exit(side: Side, open_: str, s: str, expected_price: Decimal) -> None:
    # the reference of a time-limit exit is the candle's open
    assert time_limit_exit(side, D(open_), D(s)) == Exit(TL, expected_price, D(open_))


# --------------------------------------------------------------------------- brackets


@pytest.mark.parametrize(
    ("side", "stop", "liq", "expected"),
    [
        pytest.param(Side.LONG, "95", None, D(95), id="long-no-liquidation"),
        pytest.param(Side.LONG, "95", "97.9", D("97.9"), id="long-liquidation-higher"),
        pytest.param(Side.LONG, "95", "90", D(95), id="long-stop-higher"),
        pytest.param(Side.SHORT, "105", None, D(105), id="short-no-liquidation"),
        pytest.param(Side.SHORT, "105", "102.1", D("102.1"), id="short-liquidation-lower"),
        pytest.param(Side.SHORT, "105", "150", D(105), id="short-stop-lower"),
    ],
)
def test_adverse_level(side: Side, stop: str, liq: str | None, expected: Decimal) -> None:
    tp = D(110) if side is Side.LONG else D(90)
    bracket = Bracket(side, D(stop), tp, None if liq is None else D(liq), D(0))
    assert bracket.adverse_level == expected


@pytest.mark.parametrize(
    ("liq", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("0", None, id="zero-long-1x"),
        pytest.param("-5", None, id="negative"),
        pytest.param("51.5", D("51.5"), id="reachable"),
    ],
)
def test_liquidation_level(liq: str | None, expected: Decimal | None) -> None:
    assert liquidation_level(Side.LONG, None if liq is None else D(liq)) == expected


# --------------------------------------------------------------------------- resolve_bar
# Long bracket: stop 95, target 110. Short bracket: stop 105, target 90.
# Columns: side, liquidation, slippage, open, high, low → (reason, fill price, reference) or None.


def _bar(side: Side, liq: str | None, s: str, o: str, h: str, lo: str) -> Exit | None:
    stop, target = (D(95), D(110)) if side is Side.LONG else (D(105), D(90))
    bracket = Bracket(side, stop, target, None if liq is None else D(liq), D(s))
    return resolve_bar(bracket, D(o), D(h), D(lo))


L, S = Side.LONG, Side.SHORT

LONG_CASES = [
    pytest.param(L, None, "0", "100", "105", "96", None, id="nothing-triggers"),
    pytest.param(L, None, "0", "100", "101", "94", (SL, "95", "95"), id="stop"),
    pytest.param(L, None, "0", "100", "101", "95", (SL, "95", "95"), id="stop-touched-exactly"),
    pytest.param(L, None, "0", "100", "111", "99", (TP, "110", "110"), id="target"),
    pytest.param(L, None, "0", "100", "110", "99", (TP, "110", "110"), id="target-touched-exactly"),
    # gap through the stop: min(open 93, stop 95) = 93
    pytest.param(L, None, "0", "93", "96", "92", (SL, "93", "95"), id="gap-through-stop-fills-at-open"),
    # open already beyond the target: target first, at max(open 112, 110) = 112, even though low hits the stop
    pytest.param(L, None, "0", "112", "113", "94", (TP, "112", "110"), id="open-beyond-target-first"),
    pytest.param(L, None, "0", "110", "110", "94", (TP, "110", "110"), id="open-at-target-first"),
    # both in one candle, open between: stop first (conservative)
    pytest.param(L, None, "0", "100", "111", "94", (SL, "95", "95"), id="stop-and-target-stop-first"),
    # slippage s = 0.001 moves sells down: ×0.999
    pytest.param(L, None, "0.001", "100", "101", "94", (SL, "94.905", "95"), id="stop-slipped"),  # 95·0.999
    pytest.param(L, None, "0.001", "93", "96", "92", (SL, "92.907", "95"), id="gap-stop-slipped"),  # 93·0.999
    pytest.param(L, None, "0.001", "100", "111", "99", (TP, "109.89", "110"), id="target-slip"),  # 110·0.999
    pytest.param(L, None, "0.001", "112", "113", "99", (TP, "111.888", "110"), id="gap-target-slipped"),
    # liquidation 97.9 above the stop 95: the higher one is met first coming down from the open
    pytest.param(L, "97.9", "0", "100", "101", "97", (LIQ, "97.9", None), id="liquidation-only"),
    pytest.param(L, "97.9", "0", "100", "101", "94", (LIQ, "97.9", None), id="liquidation-above-stop-first"),
    # liquidation 90 below the stop 95: the stop is higher, so it fires first
    pytest.param(L, "90", "0", "100", "101", "94", (SL, "95", "95"), id="stop-above-liquidation-only-stop"),
    pytest.param(L, "90", "0", "100", "101", "89", (SL, "95", "95"), id="stop-above-liquidation-both"),
    pytest.param(L, "95", "0", "100", "101", "94", (SL, "95", "95"), id="tie-goes-to-stop"),
    # open gapped beyond both: the higher level still decides; the fill is the open
    pytest.param(L, "97.9", "0", "93", "94", "92", (LIQ, "93", None), id="gap-beyond-both-liq-higher"),
    pytest.param(L, "90", "0", "88", "89", "87", (SL, "88", "95"), id="gap-beyond-both-stop-higher"),
    pytest.param(L, "90", "0.001", "88", "89", "87", (SL, "87.912", "95"), id="gap-beyond-both-stop-slipped"),
    # open between liquidation 97.9 and stop 95: liquidation at the open
    pytest.param(L, "97.9", "0", "96", "99", "96", (LIQ, "96", None), id="gap-beyond-liquidation-only"),
    # no slippage on liquidation fills
    pytest.param(L, "97.9", "0.001", "100", "101", "97", (LIQ, "97.9", None), id="liquidation-no-slippage"),
    pytest.param(L, "97.9", "0.001", "93", "94", "92", (LIQ, "93", None), id="gap-liquidation-no-slippage"),
    # target vs liquidation: adverse first unless the open is beyond the target
    pytest.param(L, "97.9", "0", "100", "111", "97", (LIQ, "97.9", None), id="liquidation-before-target"),
    pytest.param(L, "97.9", "0", "111", "112", "90", (TP, "111", "110"), id="open-beyond-target-beats-liq"),
    # a 1× long's liquidation price is 0: never reached
    pytest.param(L, "0", "0", "100", "101", "94", (SL, "95", "95"), id="1x-long-liquidation-zero"),
]

SHORT_CASES = [
    pytest.param(S, None, "0", "100", "104", "91", None, id="nothing-triggers"),
    pytest.param(S, None, "0", "100", "106", "99", (SL, "105", "105"), id="stop"),
    pytest.param(S, None, "0", "100", "105", "99", (SL, "105", "105"), id="stop-touched-exactly"),
    pytest.param(S, None, "0", "100", "101", "89", (TP, "90", "90"), id="target"),
    pytest.param(S, None, "0", "100", "101", "90", (TP, "90", "90"), id="target-touched-exactly"),
    # gap through the stop: max(open 107, stop 105) = 107
    pytest.param(S, None, "0", "107", "108", "106", (SL, "107", "105"), id="gap-through-stop-fills-at-open"),
    # open already below the target: target first at min(open 88, 90) = 88
    pytest.param(S, None, "0", "88", "106", "87", (TP, "88", "90"), id="open-beyond-target-first"),
    pytest.param(S, None, "0", "90", "106", "90", (TP, "90", "90"), id="open-at-target-first"),
    pytest.param(S, None, "0", "100", "106", "89", (SL, "105", "105"), id="stop-and-target-stop-first"),
    # slippage s = 0.001 moves buys up: ×1.001
    pytest.param(S, None, "0.001", "100", "106", "99", (SL, "105.105", "105"), id="stop-slip"),  # 105·1.001
    pytest.param(S, None, "0.001", "107", "108", "106", (SL, "107.107", "105"), id="gap-stop-slipped"),
    pytest.param(S, None, "0.001", "100", "101", "89", (TP, "90.09", "90"), id="target-slipped"),  # 90·1.001
    pytest.param(S, None, "0.001", "88", "101", "87", (TP, "88.088", "90"), id="gap-target-slipped"),
    # liquidation 102.1 below the stop 105: the lower one is met first coming up from the open
    pytest.param(S, "102.1", "0", "100", "103", "99", (LIQ, "102.1", None), id="liquidation-only"),
    pytest.param(S, "102.1", "0", "100", "106", "99", (LIQ, "102.1", None), id="liq-below-stop-first"),
    # liquidation 110 above the stop 105: the stop is lower, so it fires first
    pytest.param(S, "110", "0", "100", "106", "99", (SL, "105", "105"), id="stop-below-liq-only-stop"),
    pytest.param(S, "110", "0", "100", "111", "99", (SL, "105", "105"), id="stop-below-liquidation-both"),
    pytest.param(S, "105", "0", "100", "106", "99", (SL, "105", "105"), id="tie-goes-to-stop"),
    pytest.param(S, "102.1", "0", "107", "108", "106", (LIQ, "107", None), id="gap-beyond-both-liq-lower"),
    pytest.param(S, "110", "0", "112", "113", "111", (SL, "112", "105"), id="gap-beyond-both-stop-lower"),
    pytest.param(S, "110", "0.001", "112", "113", "111", (SL, "112.112", "105"), id="gap-both-stop-slipped"),
    pytest.param(S, "102.1", "0", "104", "104", "101", (LIQ, "104", None), id="gap-beyond-liquidation-only"),
    pytest.param(S, "102.1", "0.001", "100", "103", "99", (LIQ, "102.1", None), id="liquidation-no-slippage"),
    pytest.param(S, "102.1", "0.001", "107", "108", "106", (LIQ, "107", None), id="gap-liq-no-slippage"),
    pytest.param(S, "102.1", "0", "100", "103", "89", (LIQ, "102.1", None), id="liquidation-before-target"),
    pytest.param(S, "102.1", "0", "89", "110", "88", (TP, "89", "90"), id="open-beyond-target-beats-liq"),
]


@pytest.mark.parametrize(("side", "liq", "s", "o", "h", "lo", "expected"), LONG_CASES + SHORT_CASES)
def test_resolve_bar(
    side: Side,
    liq: str | None,
    s: str,
    o: str,
    h: str,
    lo: str,
    expected: tuple[ExitReason, str, str | None] | None,
) -> None:
    result = _bar(side, liq, s, o, h, lo)
    if expected is None:
        assert result is None
        return
    reason, price, reference = expected
    assert result == Exit(reason, D(price), None if reference is None else D(reference))


def test_resolve_bar_with_formula_liquidation_price_long_20x() -> None:
    # entry 100, 20×, m = 0.03: liquidation 95/0.97 = 97.938144… above the stop 95
    liq = liquidation_price(Side.LONG, D(100), D(20), D("0.03"))
    bracket = Bracket(Side.LONG, D(95), D(110), liquidation_level(Side.LONG, liq), D("0.001"))
    exit_ = resolve_bar(bracket, D(100), D("100.5"), D(97))
    assert exit_ is not None
    assert exit_.reason is LIQ
    assert exit_.price == D(95) / D("0.97")
    assert exit_.reference is None
    # a candle whose low stays above 97.94 does nothing
    assert resolve_bar(bracket, D(100), D(101), D(98)) is None


def test_resolve_bar_with_formula_liquidation_price_short_5x() -> None:
    # entry 100, 5×, m = 0.03: liquidation 120/1.03 = 116.50…, above the stop 115 → the stop fires first
    liq = liquidation_price(Side.SHORT, D(100), D(5), D("0.03"))
    bracket = Bracket(Side.SHORT, D(115), D(80), liquidation_level(Side.SHORT, liq), D(0))
    assert resolve_bar(bracket, D(100), D(120), D(99)) == Exit(SL, D(115), D(115))
    # with the stop above it (118) the liquidation at 116.50… fires first
    bracket = Bracket(Side.SHORT, D(118), D(80), liq, D(0))
    assert resolve_bar(bracket, D(100), D(120), D(99)) == Exit(LIQ, D(120) / D("1.03"), None)


def test_resolve_bar_long_1x_never_liquidates() -> None:
    liq = liquidation_price(Side.LONG, D(100), D(1), D("0.03"))  # 100·0/0.97 = 0
    assert liquidation_level(Side.LONG, liq) is None
    bracket = Bracket(Side.LONG, D(50), D(200), liquidation_level(Side.LONG, liq), D(0))
    # a crash from an open of 100 to a low of 1 hits only the stop, filled at the stop 50
    assert resolve_bar(bracket, D(100), D(100), D(1)) == Exit(SL, D(50), D(50))
