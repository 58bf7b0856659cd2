"""Position accounting from fills (domain/pnl.py).

Every expected value is worked out by hand in the comments next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from driftloop.domain.model import ExitReason, Fill, FundingPayment, OrderLeg, OrderSide, Side
from driftloop.domain.pnl import funding_received, liquidation_price, summarize, weighted_average

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def fill(side: OrderSide, price: str, size: str, fee: str = "0", *, cause: ExitReason | None = None) -> Fill:
    return Fill(
        fill_id=f"{side}-{price}-{size}",
        ts=T0,
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        leg=OrderLeg.ENTRY if cause is None else OrderLeg.EXTERNAL,
        cause=cause,
    )


def funding(*amounts: str) -> list[FundingPayment]:
    return [FundingPayment(ts=T0, rate=D(0), amount=D(a), payment_id=str(i)) for i, a in enumerate(amounts)]


# --------------------------------------------------------------------------- weighted average


@pytest.mark.parametrize(
    ("fills", "expected"),
    [
        pytest.param([], None, id="nothing-filled"),
        pytest.param([("0", "0")], None, id="zero-size"),
        # 100·1 / 1 = 100
        pytest.param([("100", "1")], D(100), id="one-fill"),
        # (100·1 + 110·3) / (1 + 3) = 430 / 4 = 107.5
        pytest.param([("100", "1"), ("110", "3")], D("107.5"), id="two-fills"),
        # (2·0.5 + 4·0.25 + 8·0.25) / 1 = 1 + 1 + 2 = 4
        pytest.param([("2", "0.5"), ("4", "0.25"), ("8", "0.25")], D(4), id="three-fills"),
    ],
)
def test_weighted_average(fills: list[tuple[str, str]], expected: Decimal | None) -> None:
    assert weighted_average([fill(BUY, p, s) for p, s in fills]) == expected


# --------------------------------------------------------------------------- summarize

SUMMARY_CASES = [
    pytest.param(
        Side.LONG,
        [fill(BUY, "100", "2", "0.2"), fill(SELL, "110", "2", "0.22", cause=ExitReason.TAKE_PROFIT)],
        funding(),
        # entry 100, exit 110, size 2: price pnl (110 − 100)·2 = 20
        # fees 0.2 + 0.22 = 0.42 (10 bps of 200 and of 220); net 20 − 0.42 = 19.58
        dict(
            entry_size=D(2),
            exit_size=D(2),
            avg_entry=D(100),
            avg_exit=D(110),
            price_pnl=D(20),
            fees=D("0.42"),
            funding=D(0),
            net_pnl=D("19.58"),
            entry_notional=D(200),
        ),
        id="long-single-fills",
    ),
    pytest.param(
        Side.SHORT,
        [fill(SELL, "100", "2", "0.2"), fill(BUY, "90", "2", "0.18", cause=ExitReason.TAKE_PROFIT)],
        funding(),
        # short: price pnl −1·(90 − 100)·2 = 20; fees 0.2 + 0.18 = 0.38; net 19.62
        dict(
            entry_size=D(2),
            exit_size=D(2),
            avg_entry=D(100),
            avg_exit=D(90),
            price_pnl=D(20),
            fees=D("0.38"),
            funding=D(0),
            net_pnl=D("19.62"),
            entry_notional=D(200),
        ),
        id="short-single-fills",
    ),
    pytest.param(
        Side.LONG,
        [
            fill(BUY, "100", "1", "0.1"),
            fill(BUY, "104", "3", "0.312"),
            fill(SELL, "105", "1", "0.105"),
            fill(SELL, "106", "2", "-0.0424"),  # maker rebate: −2 bps of 212
            fill(SELL, "101", "1", "0.101", cause=ExitReason.STOP_LOSS),
        ],
        funding("0.5", "-0.2"),
        # avg entry (100·1 + 104·3)/4 = 412/4 = 103
        # avg exit (105·1 + 106·2 + 101·1)/4 = 418/4 = 104.5
        # price pnl (105−103)·1 + (106−103)·2 + (101−103)·1 = 2 + 6 − 2 = 6  (= (104.5 − 103)·4)
        # fees 0.1 + 0.312 + 0.105 − 0.0424 + 0.101 = 0.5756
        # funding 0.5 − 0.2 = 0.3; net 6 − 0.5756 + 0.3 = 5.7244; entry notional 103·4 = 412
        dict(
            entry_size=D(4),
            exit_size=D(4),
            avg_entry=D(103),
            avg_exit=D("104.5"),
            price_pnl=D(6),
            fees=D("0.5756"),
            funding=D("0.3"),
            net_pnl=D("5.7244"),
            entry_notional=D(412),
        ),
        id="long-2-entries-3-exits-maker-rebate-funding",
    ),
    pytest.param(
        Side.SHORT,
        [
            fill(SELL, "50", "2", "0.1"),
            fill(SELL, "52", "3", "0.156"),
            fill(BUY, "49", "1", "0.049"),
            fill(BUY, "48", "1", "0.048"),
            fill(BUY, "50", "3", "0.15", cause=ExitReason.TIME_LIMIT),
        ],
        funding("-0.25"),
        # avg entry (50·2 + 52·3)/5 = 256/5 = 51.2
        # avg exit (49 + 48 + 50·3)/5 = 247/5 = 49.4
        # price pnl −[(49−51.2)·1 + (48−51.2)·1 + (50−51.2)·3] = −[−2.2 − 3.2 − 3.6] = 9  (= (51.2−49.4)·5)
        # fees 0.1 + 0.156 + 0.049 + 0.048 + 0.15 = 0.503; funding paid −0.25
        # net 9 − 0.503 − 0.25 = 8.247; entry notional 51.2·5 = 256
        dict(
            entry_size=D(5),
            exit_size=D(5),
            avg_entry=D("51.2"),
            avg_exit=D("49.4"),
            price_pnl=D(9),
            fees=D("0.503"),
            funding=D("-0.25"),
            net_pnl=D("8.247"),
            entry_notional=D(256),
        ),
        id="short-2-entries-3-exits-funding-paid",
    ),
    pytest.param(
        Side.SHORT,
        [fill(SELL, "20", "10", "0.2"), fill(BUY, "22", "10", "0.22", cause=ExitReason.STOP_LOSS)],
        funding("0.1", "0.15"),
        # short stopped out: −1·(22 − 20)·10 = −20; fees 0.42; funding received 0.25; net −20.17
        dict(
            entry_size=D(10),
            exit_size=D(10),
            avg_entry=D(20),
            avg_exit=D(22),
            price_pnl=D(-20),
            fees=D("0.42"),
            funding=D("0.25"),
            net_pnl=D("-20.17"),
            entry_notional=D(200),
        ),
        id="short-loss-funding-received",
    ),
]


@pytest.mark.parametrize(("side", "fills", "payments", "expected"), SUMMARY_CASES)
def test_summarize(
    side: Side, fills: list[Fill], payments: list[FundingPayment], expected: dict[str, Decimal]
) -> None:
    summary = summarize(side, fills, payments)
    for name, value in expected.items():
        assert getattr(summary, name) == value, name
    assert summary.is_closed
    assert summary.open_size == 0
    assert summary.side is side


def test_summarize_does_not_depend_on_fill_order() -> None:
    # the long 2-entries-3-exits case above, exits listed first and entries last
    fills = [
        fill(SELL, "101", "1", "0.101", cause=ExitReason.STOP_LOSS),
        fill(SELL, "106", "2", "-0.0424"),
        fill(SELL, "105", "1", "0.105"),
        fill(BUY, "104", "3", "0.312"),
        fill(BUY, "100", "1", "0.1"),
    ]
    summary = summarize(Side.LONG, fills, funding("-0.2", "0.5"))
    assert summary.avg_entry == D(103)
    assert summary.avg_exit == D("104.5")
    assert summary.net_pnl == D("5.7244")


def test_partially_closed_position_is_open_and_books_only_the_exited_part() -> None:
    # BUY 4 @ 100, SELL 1 @ 110: open 3, realized (110 − 100)·1 = 10, fees 0.4 + 0.11 = 0.51
    summary = summarize(Side.LONG, [fill(BUY, "100", "4", "0.4"), fill(SELL, "110", "1", "0.11")])
    assert not summary.is_closed
    assert summary.open_size == 3
    assert summary.price_pnl == 10
    assert summary.net_pnl == D("9.49")


def test_no_fills_is_not_a_position() -> None:
    summary = summarize(Side.SHORT, [])
    assert summary.avg_entry is None
    assert summary.avg_exit is None
    assert summary.price_pnl == 0
    assert summary.entry_notional == 0
    assert not summary.is_closed


def test_exit_without_entry_has_no_price_pnl() -> None:
    summary = summarize(Side.LONG, [fill(SELL, "100", "1", "0.1")])
    assert summary.avg_entry is None
    assert summary.price_pnl == 0
    assert summary.net_pnl == D("-0.1")
    assert not summary.is_closed


def test_price_pnl_and_entry_notional_are_exact_with_a_non_terminating_average() -> None:
    # BUY 1 @ 100, BUY 2 @ 100.1 → entry notional 100 + 200.2 = 300.2 (average 100.0666…)
    # SELL 3 @ 101 → exit notional 303; price pnl = 303 − 300.2 = 2.8 exactly
    summary = summarize(Side.LONG, [fill(BUY, "100", "1"), fill(BUY, "100.1", "2"), fill(SELL, "101", "3")])
    assert summary.entry_notional == D("300.2")
    assert summary.price_pnl == D("2.8")


# --------------------------------------------------------------------------- funding


@pytest.mark.parametrize(
    ("side", "rate", "size", "price", "expected"),
    [
        # positive rate: longs pay shorts. long −(0.0001·10·2) = −0.002; short +0.002
        pytest.param(Side.LONG, "0.0001", "10", "2", D("-0.002"), id="long-pays-positive-rate"),
        pytest.param(Side.SHORT, "0.0001", "10", "2", D("0.002"), id="short-receives-positive-rate"),
        # negative rate: shorts pay longs. long −(−0.0003·5·100) = +0.15; short −0.15
        pytest.param(Side.LONG, "-0.0003", "5", "100", D("0.15"), id="long-receives-negative-rate"),
        pytest.param(Side.SHORT, "-0.0003", "5", "100", D("-0.15"), id="short-pays-negative-rate"),
        pytest.param(Side.LONG, "0", "5", "100", D(0), id="zero-rate"),
        # freqtrade tests/exchange/test_exchange.py::test_calculate_funding_fees (is_short=True):
        # fee = rate · mark · amount, positive for the short, negated for a long.
        # (10, 0.0001, 2.0) → 0.002; (10, 0.0002, 2.0) → 0.004; (10, 0.0002, 2.5) → 0.005
        pytest.param(Side.SHORT, "0.0001", "10", "2.0", D("0.002"), id="freqtrade-1"),
        pytest.param(Side.SHORT, "0.0002", "10", "2.0", D("0.004"), id="freqtrade-2"),
        pytest.param(Side.SHORT, "0.0002", "10", "2.5", D("0.005"), id="freqtrade-3"),
        pytest.param(Side.LONG, "0.0002", "10", "2.5", D("-0.005"), id="freqtrade-3-long"),
    ],
)
def test_funding_received(side: Side, rate: str, size: str, price: str, expected: Decimal) -> None:
    assert funding_received(side, D(rate), D(size), D(price)) == expected


# --------------------------------------------------------------------------- liquidation price

Q = D("0.000001")


@pytest.mark.parametrize(
    ("side", "leverage", "expected"),
    [
        # entry 100, m = 0.03. long: 100·(1 − 1/L)/(1 − 0.03) = 100·(1 − 1/L)/0.97
        pytest.param(Side.LONG, 1, D(0), id="long-1x-never"),  # 100·0/0.97 = 0
        pytest.param(Side.LONG, 2, D("51.546392"), id="long-2x"),  # 50/0.97 = 51.5463917…
        pytest.param(Side.LONG, 5, D("82.474227"), id="long-5x"),  # 80/0.97 = 82.4742268…
        pytest.param(Side.LONG, 20, D("97.938144"), id="long-20x"),  # 95/0.97 = 97.9381443…
        # short: 100·(1 + 1/L)/(1 + 0.03) = 100·(1 + 1/L)/1.03
        pytest.param(Side.SHORT, 1, D("194.174757"), id="short-1x"),  # 200/1.03 = 194.1747572…
        pytest.param(Side.SHORT, 2, D("145.631068"), id="short-2x"),  # 150/1.03 = 145.6310679…
        pytest.param(Side.SHORT, 5, D("116.504854"), id="short-5x"),  # 120/1.03 = 116.5048543…
        pytest.param(Side.SHORT, 20, D("101.941748"), id="short-20x"),  # 105/1.03 = 101.9417475…
    ],
)
def test_liquidation_price_default_maintenance(side: Side, leverage: int, expected: Decimal) -> None:
    price = liquidation_price(side, D(100), D(leverage), D("0.03"))
    assert price.quantize(Q) == expected


@pytest.mark.parametrize(
    ("side", "entry", "leverage", "m", "expected"),
    [
        # m = 0: the price where the margin is gone. long 100·(1 − 1/L), short 100·(1 + 1/L)
        pytest.param(Side.LONG, "100", "1", "0", D(0), id="long-1x-m0"),
        pytest.param(Side.LONG, "100", "2", "0", D(50), id="long-2x-m0"),
        pytest.param(Side.LONG, "100", "5", "0", D(80), id="long-5x-m0"),
        pytest.param(Side.LONG, "100", "20", "0", D(95), id="long-20x-m0"),
        pytest.param(Side.SHORT, "100", "1", "0", D(200), id="short-1x-m0"),
        pytest.param(Side.SHORT, "100", "2", "0", D(150), id="short-2x-m0"),
        pytest.param(Side.SHORT, "100", "5", "0", D(120), id="short-5x-m0"),
        pytest.param(Side.SHORT, "100", "20", "0", D(105), id="short-20x-m0"),
        # long 2×, m = 0.2: 40·0.5/0.8 = 25; short 2×, m = 0.2: 48·1.5/1.2 = 60
        pytest.param(Side.LONG, "40", "2", "0.2", D(25), id="long-2x-m0.2"),
        pytest.param(Side.SHORT, "48", "2", "0.2", D(60), id="short-2x-m0.2"),
        # long 4×, m = 0.25: 200·0.75/0.75 = 200 (maintenance equals the initial margin)
        pytest.param(Side.LONG, "200", "4", "0.25", D(200), id="long-liquidated-at-entry"),
    ],
)
def test_liquidation_price_exact(side: Side, entry: str, leverage: str, m: str, expected: Decimal) -> None:
    assert liquidation_price(side, D(entry), D(leverage), D(m)) == expected
