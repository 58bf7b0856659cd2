"""A closed trade's outcome (domain/outcome.py; ARCHITECTURE.md: Trade outcome fields, Accuracy of the AI).

Expected values are worked out by hand in the comments. Values that do not terminate in decimal are
compared rounded to 6 places (`approx6`); everything else is compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    FundingPayment,
    OrderLeg,
    OrderSide,
    OutcomeClass,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
)
from driftloop.domain.outcome import (
    IncompleteTradeError,
    Outcome,
    clip_exit_bar,
    compute_outcome,
    excursions,
    slippage_bps,
)

D = Decimal
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
T1 = datetime(2024, 3, 1, 16, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
WIN, LOSS, BE = OutcomeClass.WIN, OutcomeClass.LOSS, OutcomeClass.BREAKEVEN
TP, SL, LIQ, TL, MAN = (
    ExitReason.TAKE_PROFIT,
    ExitReason.STOP_LOSS,
    ExitReason.LIQUIDATION,
    ExitReason.TIME_LIMIT,
    ExitReason.MANUAL,
)
SIX = D("0.000001")


@dataclass(frozen=True)
class approx6:  # noqa: N801 - reads as a value in the tables
    """An expected value that does not terminate: compare rounded to 6 decimal places."""

    value: str


def check(outcome: Outcome, expected: dict[str, object]) -> None:
    for name, want in expected.items():
        got = getattr(outcome, name)
        if isinstance(want, approx6):
            assert got.quantize(SIX) == D(want.value), name
        else:
            assert got == want, f"{name}: {got!r} != {want!r}"


def make_analysis(
    rec: Recommendation,
    *,
    stop: str,
    tp: str,
    entry: str | None = None,
    target: str | None = None,
    leverage: str = "1",
    confidence: str = "50",
    size_usd: str = "1000",
) -> Analysis:
    return Analysis(
        id="a-1",
        timestamp=T0,
        symbol="SOL-PERP",
        timeframe=Timeframe.H1,
        prediction=Prediction.BULLISH if rec is Recommendation.BUY else Prediction.BEARISH,
        confidence=D(confidence),
        recommendation=rec,
        stop_loss=D(stop),
        take_profit=D(tp),
        size_usd=D(size_usd),
        entry_price=None if entry is None else D(entry),
        target_price=None if target is None else D(target),
        leverage=D(leverage),
    )


_counter = iter(range(1_000_000))


def f(
    side: OrderSide,
    price: str,
    size: str,
    fee: str = "0",
    *,
    cause: ExitReason | None = None,
    ref: str | None = None,
    entry: bool = False,
) -> Fill:
    return Fill(
        fill_id=f"fill-{next(_counter)}",
        ts=T0,
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        leg=OrderLeg.ENTRY if entry else OrderLeg.EXTERNAL,
        cause=cause,
        reference_price=None if ref is None else D(ref),
    )


def funding(*amounts: str) -> list[FundingPayment]:
    return [
        FundingPayment(ts=T1, rate=D(0), amount=D(a), payment_id=f"fp-{i}") for i, a in enumerate(amounts)
    ]


# ----------------------------------------------------------------- helpers: slippage, clip, excursions


@pytest.mark.parametrize(
    ("side", "price", "reference", "is_entry", "expected"),
    [
        pytest.param(Side.LONG, "100.5", "100", True, D(50), id="long-entry-paid-up"),  # +0.5/100·1e4
        pytest.param(Side.LONG, "99.8", "100", True, D(-20), id="long-entry-favourable"),  # −0.2/100·1e4
        pytest.param(Side.SHORT, "99.5", "100", True, D(50), id="short-entry-sold-lower"),  # −(−0.5)/100·1e4
        pytest.param(Side.SHORT, "100.1", "100", True, D(-10), id="short-entry-favourable"),
        pytest.param(Side.LONG, "99.9", "100", False, D(10), id="long-exit-sold-lower"),  # 0.1/100·1e4
        pytest.param(Side.LONG, "100.3", "100", False, D(-30), id="long-exit-favourable"),
        pytest.param(Side.SHORT, "100.2", "100", False, D(20), id="short-exit-bought-higher"),  # 0.2/100
        pytest.param(Side.SHORT, "99.6", "100", False, D(-40), id="short-exit-favourable"),
        pytest.param(Side.LONG, "97.9", None, False, D(0), id="no-reference"),
        pytest.param(Side.LONG, "97.9", "0", False, D(0), id="zero-reference"),
    ],
)
def test_slippage_bps(
    side: Side, price: str, reference: str | None, is_entry: bool, expected: Decimal
) -> None:
    ref = None if reference is None else D(reference)
    assert slippage_bps(side, D(price), ref, is_entry=is_entry) == expected


@pytest.mark.parametrize(
    ("side", "reason", "low", "high", "exit_price", "expected"),
    [
        # the side of the exit is clipped at the exit price, the other side is kept
        pytest.param(Side.LONG, SL, "90", "105", "95", ("95", "105"), id="long-stop-clips-low"),
        pytest.param(Side.LONG, LIQ, "40", "60", "51.5", ("51.5", "60"), id="long-liquidation-clips-low"),
        pytest.param(Side.LONG, TP, "98", "115", "110", ("98", "110"), id="long-target-clips-high"),
        pytest.param(Side.SHORT, SL, "95", "112", "110", ("95", "110"), id="short-stop-clips-high"),
        pytest.param(Side.SHORT, LIQ, "95", "200", "145", ("95", "145"), id="short-liquidation-clips-high"),
        pytest.param(Side.SHORT, TP, "85", "101", "90", ("90", "101"), id="short-target-clips-low"),
        # a time-limit exit happens at the open: nothing of the candle after it counts
        pytest.param(Side.LONG, TL, "95", "105", "100", ("100", "100"), id="long-time-limit-both"),
        pytest.param(Side.SHORT, TL, "95", "105", "101", ("101", "101"), id="short-time-limit-both"),
        # manual: clipped on the side the price lies (mid of 95..105 is 100)
        pytest.param(Side.LONG, MAN, "95", "105", "96", ("96", "105"), id="manual-low-half"),
        pytest.param(Side.LONG, MAN, "95", "105", "104", ("95", "104"), id="manual-high-half"),
        pytest.param(Side.SHORT, MAN, "95", "105", "100", ("100", "105"), id="manual-at-mid-clips-low"),
        # an exit at the very extreme changes nothing
        pytest.param(Side.LONG, SL, "95", "105", "95", ("95", "105"), id="long-stop-at-low"),
    ],
)
def test_clip_exit_bar(
    side: Side, reason: ExitReason, low: str, high: str, exit_price: str, expected: tuple[str, str]
) -> None:
    assert clip_exit_bar(side, reason, D(low), D(high), D(exit_price)) == (D(expected[0]), D(expected[1]))


@pytest.mark.parametrize(
    ("side", "entry", "lowest", "highest", "mae", "mfe"),
    [
        pytest.param(Side.LONG, "100", "95", "110", D(5), D(10), id="long"),  # (100−95)/100, (110−100)/100
        pytest.param(Side.SHORT, "100", "95", "110", D(10), D(5), id="short"),  # (110−100)/100, (100−95)/100
        pytest.param(Side.LONG, "100", "101", "103", D(0), D(3), id="long-never-adverse"),  # −1 → 0
        pytest.param(Side.SHORT, "100", "97", "99", D(0), D(3), id="short-never-adverse"),
        pytest.param(Side.LONG, "100", "96", "99", D(4), D(0), id="long-never-favourable"),
        pytest.param(Side.LONG, "200", "190", "201", D(5), D("0.5"), id="long-of-entry"),  # 10/200, 1/200
    ],
)
def test_excursions(side: Side, entry: str, lowest: str, highest: str, mae: Decimal, mfe: Decimal) -> None:
    assert excursions(side, D(entry), D(lowest), D(highest)) == (mae, mfe)


@pytest.mark.parametrize(
    ("side", "entry", "bars", "reason", "exit_price", "mae", "mfe"),
    [
        # long stopped at 95: bars (98,103), (97,102), exit bar (90,101) → clipped (95,101)
        # lowest 95, highest 103 → MAE 5, MFE 3 (the exit bar's 90 does not count)
        pytest.param(
            Side.LONG, "100", [("98", "103"), ("97", "102"), ("90", "101")], SL, "95", 5, 3, id="long-stop"
        ),
        # long target 110: (99,104), exit bar (101,115) → (101,110): lowest 99, highest 110 → 1, 10
        pytest.param(Side.LONG, "100", [("99", "104"), ("101", "115")], TP, "110", 1, 10, id="long-target"),
        # short stopped at 105: (98,101), exit bar (100,112) → (100,105): lowest 98, highest 105 → 5, 2
        pytest.param(Side.SHORT, "100", [("98", "101"), ("100", "112")], SL, "105", 5, 2, id="short-stop"),
        # short target 90: (99,102.5), exit bar (85,96) → (90,96): highest 102.5, lowest 90 → 2.5, 10
        pytest.param(
            Side.SHORT, "100", [("99", "102.5"), ("85", "96")], TP, "90", D("2.5"), 10, id="short-target"
        ),
        # long time limit at the open 101: (99.5,103), exit bar (95,106) → (101,101) → 0.5, 3
        pytest.param(
            Side.LONG, "100", [("99.5", "103"), ("95", "106")], TL, "101", D("0.5"), 3, id="long-time-limit"
        ),
        # short liquidated at 116.5: (99,101), exit bar (110,130) → (110,116.5) → 16.5, 1
        pytest.param(
            Side.SHORT,
            "100",
            [("99", "101"), ("110", "130")],
            LIQ,
            "116.5",
            D("16.5"),
            1,
            id="short-liquidation",
        ),
        # entered at the low of the entry bar and never below it: MAE 0
        pytest.param(
            Side.LONG, "100", [("100", "104"), ("103", "112")], TP, "110", 0, 10, id="long-no-adverse"
        ),
        # the whole trade inside the entry bar (entry bar = exit bar)
        pytest.param(Side.LONG, "100", [("94", "104")], SL, "95", 5, 4, id="same-bar"),
    ],
)
def test_mae_mfe_over_bars_with_clipped_exit_bar(
    side: Side,
    entry: str,
    bars: list[tuple[str, str]],
    reason: ExitReason,
    exit_price: str,
    mae: Decimal | int,
    mfe: Decimal | int,
) -> None:
    *held, (exit_low, exit_high) = [(D(lo), D(hi)) for lo, hi in bars]
    clipped = clip_exit_bar(side, reason, exit_low, exit_high, D(exit_price))
    lows = [lo for lo, _ in held] + [clipped[0]]
    highs = [hi for _, hi in held] + [clipped[1]]
    assert excursions(side, D(entry), min(lows), max(highs)) == (D(mae), D(mfe))


# --------------------------------------------------------------------------- compute_outcome: whole trades

SCENARIOS = [
    pytest.param(
        make_analysis(Recommendation.BUY, entry="100", stop="95", tp="110", leverage="5", confidence="70"),
        [
            f(BUY, "100", "10", "1", ref="100", entry=True),  # 10 bps of 1000
            f(SELL, "110", "10", "1.1", cause=TP, ref="110"),  # 10 bps of 1100
        ],
        funding("-0.3"),
        ("98", "110"),
        {},
        # price pnl (110 − 100)·10 = 100; fees 2.1; funding −0.3; pnl 100 − 2.1 − 0.3 = 97.6
        # notional 1000: pnl% 9.76; margin 1000/5 = 200: roe 97.6/200·100 = 48.8
        # risk |100 − 95|·10 = 50: RR 97.6/50 = 1.952
        # MAE (100 − 98)/100 = 2 %, MFE (110 − 100)/100 = 10 %
        # target = takeProfit 110 hit exactly: accuracy 1; p = 0.7, WIN: brier 0.3² = 0.09
        dict(
            side=Side.LONG,
            entry_price=D(100),
            exit_price=D(110),
            size=D(10),
            leverage=D(5),
            entry_notional=D(1000),
            price_pnl=D(100),
            fees_usd=D("2.1"),
            funding_usd=D("-0.3"),
            pnl_usd=D("97.6"),
            pnl_percent=D("9.76"),
            roe_percent=D("48.8"),
            actual_rr=D("1.952"),
            outcome=WIN,
            exit_reason=TP,
            entry_slippage_bps=D(0),
            exit_slippage_bps=D(0),
            slippage_bps=D(0),
            mae=D(2),
            mfe=D(10),
            closed_at=T1,
            direction_correct=True,
            price_accuracy=D(1),
            accuracy_score=D(1),
            stated_probability=D("0.7"),
            brier=D("0.09"),
        ),
        id="long-take-profit",
    ),
    pytest.param(
        make_analysis(
            Recommendation.SELL,
            entry="200",
            stop="210",
            tp="180",
            target="185",
            leverage="2",
            confidence="80",
        ),
        [
            f(SELL, "199.8", "5", "0.999", ref="200", entry=True),  # open 200·(1 − 0.001); 10 bps of 999
            f(BUY, "210.21", "5", "1.05105", cause=SL, ref="210"),  # stop 210·1.001; 10 bps of 1051.05
        ],
        funding("0.12"),
        ("197", "210.21"),
        {},
        # price pnl −(210.21 − 199.8)·5 = −10.41·5 = −52.05; fees 0.999 + 1.05105 = 2.05005
        # pnl −52.05 − 2.05005 + 0.12 = −53.98005; notional 199.8·5 = 999
        # pnl% −53.98005/999·100 = −5.4034084…; margin 999/2 = 499.5: roe −10.8068168…
        # risk |199.8 − 210|·5 = 51: RR −53.98005/51 = −1.0584323…
        # entry slippage −1·(199.8 − 200)/200·1e4 = 10; exit −1·(210 − 210.21)/210·1e4 = 10; total 20
        # MAE (210.21 − 199.8)/199.8·100 = 5.2102102…; MFE (199.8 − 197)/199.8·100 = 1.4014014…
        # exit above entry: wrong direction; accuracy 1 − 25.21/14.8 < 0 → 0; brier 0.8² = 0.64
        dict(
            side=Side.SHORT,
            entry_price=D("199.8"),
            exit_price=D("210.21"),
            size=D(5),
            leverage=D(2),
            entry_notional=D(999),
            price_pnl=D("-52.05"),
            fees_usd=D("2.05005"),
            funding_usd=D("0.12"),
            pnl_usd=D("-53.98005"),
            pnl_percent=approx6("-5.403408"),
            roe_percent=approx6("-10.806817"),
            actual_rr=approx6("-1.058432"),
            outcome=LOSS,
            exit_reason=SL,
            entry_slippage_bps=D(10),
            exit_slippage_bps=D(10),
            slippage_bps=D(20),
            mae=approx6("5.210210"),
            mfe=approx6("1.401401"),
            direction_correct=False,
            price_accuracy=D(0),
            accuracy_score=D(0),
            stated_probability=D("0.8"),
            brier=D("0.64"),
        ),
        id="short-stop-loss-with-slippage",
    ),
    pytest.param(
        make_analysis(Recommendation.BUY, stop="96", tp="108", target="106", leverage="3", confidence="55"),
        [
            # one market order filled in two parts; reference = the entry candle's open 100
            f(BUY, "100.1", "4", "0.4004", ref="100", entry=True),
            f(BUY, "100.6", "6", "0.6036", ref="100", entry=True),
            # closed by hand on the venue in three fills (no cause), one of them a maker with a rebate
            f(SELL, "103", "3", "0.309"),
            f(SELL, "104", "5", "-0.104"),  # maker rebate: −2 bps of 520
            f(SELL, "101", "2", "0.202"),
        ],
        funding("-0.2", "0.05"),
        ("99.4", "104.9"),
        {},
        # avg entry (400.4 + 603.6)/10 = 100.4; avg exit (309 + 520 + 202)/10 = 103.1
        # price pnl (103.1 − 100.4)·10 = 27; fees 0.4004 + 0.6036 + 0.309 − 0.104 + 0.202 = 1.411
        # funding −0.2 + 0.05 = −0.15; pnl 27 − 1.411 − 0.15 = 25.439; notional 1004
        # pnl% 25.439/1004·100 = 2.5337649…; roe (margin 1004/3) 7.6012948…
        # risk (100.4 − 96)·10 = 44: RR 25.439/44 = 0.5781590…
        # entry slippage (100.4 − 100)/100·1e4 = 40; exit: no cause → MANUAL, no reference → 0
        # MAE (100.4 − 99.4)/100.4·100 = 0.9960159…; MFE (104.9 − 100.4)/100.4·100 = 4.4820717…
        # accuracy vs target 106: 1 − |103.1 − 106|/|106 − 100.4| = 1 − 2.9/5.6 = 0.4821428…
        # brier (0.55 − 1)² = 0.2025
        dict(
            entry_price=D("100.4"),
            exit_price=D("103.1"),
            size=D(10),
            entry_notional=D(1004),
            price_pnl=D(27),
            fees_usd=D("1.411"),
            funding_usd=D("-0.15"),
            pnl_usd=D("25.439"),
            pnl_percent=approx6("2.533765"),
            roe_percent=approx6("7.601295"),
            actual_rr=approx6("0.578159"),
            outcome=WIN,
            exit_reason=MAN,
            entry_slippage_bps=D(40),
            exit_slippage_bps=D(0),
            slippage_bps=D(40),
            mae=approx6("0.996016"),
            mfe=approx6("4.482072"),
            direction_correct=True,
            price_accuracy=approx6("0.482143"),
            accuracy_score=approx6("0.482143"),
            brier=D("0.2025"),
        ),
        id="long-partial-fills-manual-close",
    ),
    pytest.param(
        make_analysis(Recommendation.BUY, stop="97", tp="110", leverage="20", confidence="90"),
        [
            f(BUY, "100", "10", "1", ref="100", entry=True),
            # liquidated at 97.9; a reference on the fill is ignored: liquidation slippage is 0
            f(SELL, "97.9", "10", "0.979", cause=LIQ, ref="98"),
        ],
        funding(),
        ("97.9", "100.5"),
        {},
        # price pnl (97.9 − 100)·10 = −21; fees 1 + 0.979 = 1.979; pnl −22.979; notional 1000
        # pnl% −2.2979; margin 1000/20 = 50: roe −45.958; risk 3·10 = 30: RR −0.7659666…
        # MAE 2.1, MFE 0.5; accuracy 1 − 12.1/10 < 0 → 0; brier 0.9² = 0.81
        dict(
            pnl_usd=D("-22.979"),
            pnl_percent=D("-2.2979"),
            roe_percent=D("-45.958"),
            actual_rr=approx6("-0.765967"),
            outcome=LOSS,
            exit_reason=LIQ,
            entry_slippage_bps=D(0),
            exit_slippage_bps=D(0),
            mae=D("2.1"),
            mfe=D("0.5"),
            direction_correct=False,
            price_accuracy=D(0),
            accuracy_score=D(0),
            brier=D("0.81"),
        ),
        id="long-liquidation-20x",
    ),
    pytest.param(
        make_analysis(Recommendation.SELL, entry="50", stop="52", tp="45", confidence="40"),
        [
            f(SELL, "50", "10", "0.25", ref="50", entry=True),
            f(BUY, "49.98", "10", "0.25", cause=TL, ref="49.98"),  # time limit at the open 49.98, s = 0
        ],
        funding("0.05"),
        ("49.9", "50.3"),
        {},
        # price pnl −(49.98 − 50)·10 = 0.2; fees 0.5; funding 0.05: pnl 0.2 − 0.5 + 0.05 = −0.25
        # pnl% −0.25/500·100 = −0.05 exactly: on the band edge → BREAKEVEN; roe (1×) −0.05
        # risk 2·10 = 20: RR −0.0125; MAE (50.3 − 50)/50 = 0.6; MFE (50 − 49.9)/50 = 0.2
        # direction 49.98 < 50 correct; accuracy 1 − 4.98/5 = 0.004; brier (0.4 − 0)² = 0.16
        dict(
            pnl_usd=D("-0.25"),
            pnl_percent=D("-0.05"),
            roe_percent=D("-0.05"),
            actual_rr=D("-0.0125"),
            outcome=BE,
            exit_reason=TL,
            entry_slippage_bps=D(0),
            exit_slippage_bps=D(0),
            mae=D("0.6"),
            mfe=D("0.2"),
            direction_correct=True,
            price_accuracy=D("0.004"),
            accuracy_score=D("0.004"),
            brier=D("0.16"),
        ),
        id="short-time-limit-breakeven-edge",
    ),
    pytest.param(
        make_analysis(Recommendation.SELL, entry="50", stop="52", tp="45", confidence="40"),
        [
            f(SELL, "50", "10", "0.25", ref="50", entry=True),
            f(BUY, "49.98", "10", "0.25", cause=TL, ref="49.98"),
        ],
        funding("0.05"),
        ("49.9", "50.3"),
        {"breakeven_pct": D("0.04")},
        # same trade, band 0.04: −0.05 < −0.04 → LOSS (brier unchanged: y = 0 either way)
        dict(pnl_percent=D("-0.05"), outcome=LOSS, brier=D("0.16")),
        id="short-time-limit-custom-band-loss",
    ),
]


@pytest.mark.parametrize(("analysis", "fills", "payments", "extremes", "kwargs", "expected"), SCENARIOS)
def test_compute_outcome(
    analysis: Analysis,
    fills: list[Fill],
    payments: list[FundingPayment],
    extremes: tuple[str, str],
    kwargs: dict[str, Decimal],
    expected: dict[str, object],
) -> None:
    outcome = compute_outcome(
        analysis, fills, payments, closed_at=T1, lowest=D(extremes[0]), highest=D(extremes[1]), **kwargs
    )
    check(outcome, expected)
    assert outcome.pnl_usd == outcome.price_pnl - outcome.fees_usd + outcome.funding_usd


# ----------------------------------------------------------------- classification through the outcome


@pytest.mark.parametrize(
    ("funding_amount", "band", "expected", "brier"),
    [
        # short SELL 10 @ 50, BUY 10 @ 49.98, fees 0.5: pnl = 0.2 − 0.5 + funding; notional 500
        pytest.param("0.55", None, BE, D("0.16"), id="plus-0.05-exactly-is-breakeven"),  # 0.25/500 = 0.05 %
        pytest.param("0.56", None, WIN, D("0.36"), id="plus-0.052-win"),  # 0.26/500 = 0.052 %; (0.4−1)²
        pytest.param("0.3", None, BE, D("0.16"), id="zero"),  # 0 %
        pytest.param("0.05", None, BE, D("0.16"), id="minus-0.05-exactly-is-breakeven"),  # −0.25/500
        pytest.param("0.04", None, LOSS, D("0.16"), id="minus-0.052-loss"),  # −0.26/500 = −0.052 %
        pytest.param("0.55", "0.04", WIN, D("0.36"), id="custom-0.04-win"),
        pytest.param("0.05", "0.04", LOSS, D("0.16"), id="custom-0.04-loss"),
        pytest.param("0.56", "0.1", BE, D("0.16"), id="custom-0.1-breakeven"),
    ],
)
def test_outcome_classification_band(
    funding_amount: str, band: str | None, expected: OutcomeClass, brier: Decimal
) -> None:
    analysis = make_analysis(Recommendation.SELL, entry="50", stop="52", tp="45", confidence="40")
    fills = [
        f(SELL, "50", "10", "0.25", ref="50", entry=True),
        f(BUY, "49.98", "10", "0.25", cause=TL, ref="49.98"),
    ]
    kwargs = {} if band is None else {"breakeven_pct": D(band)}
    outcome = compute_outcome(
        analysis, fills, funding(funding_amount), closed_at=T1, lowest=D(49), highest=D(51), **kwargs
    )
    assert outcome.outcome is expected
    assert outcome.brier == brier


# --------------------------------------------------------------------------- exit reason and exit slippage


@pytest.mark.parametrize(
    ("side", "exits", "reason", "exit_bps"),
    [
        # long BUY 2 @ 100; exit fills (size, price, cause, reference)
        pytest.param(Side.LONG, [("2", "110", TP, "110")], TP, D(0), id="long-target"),
        # (95 − 94.905)/95·1e4 = 0.095/95·1e4 = 10
        pytest.param(Side.LONG, [("2", "94.905", SL, "95")], SL, D(10), id="long-stop-slipped"),
        # time limit: reference is the open 104; (104 − 103.896)/104·1e4 = 10
        pytest.param(Side.LONG, [("2", "103.896", TL, "104")], TL, D(10), id="long-time-limit-slipped"),
        pytest.param(Side.LONG, [("2", "97.9", LIQ, "98")], LIQ, D(0), id="long-liquidation-zero"),
        pytest.param(Side.LONG, [("2", "101", None, None)], MAN, D(0), id="long-no-cause-manual"),
        pytest.param(Side.LONG, [("2", "101", MAN, None)], MAN, D(0), id="long-manual"),
        # the closing (last) fill's cause decides: part taken at the target, the rest stopped
        pytest.param(
            Side.LONG, [("1", "110", TP, "110"), ("1", "95", SL, "95")], SL, None, id="last-fill-decides"
        ),
        # one target order filled in three parts: avg (0.5·110 + 1·109.95 + 0.5·109.9)/2 = 219.9/2 = 109.95
        # (110 − 109.95)/110·1e4 = 0.05/110·1e4 = 4.5454…
        pytest.param(
            Side.LONG,
            [("0.5", "110", TP, "110"), ("1", "109.95", TP, "110"), ("0.5", "109.9", TP, "110")],
            TP,
            approx6("4.545455"),
            id="long-target-three-fills",
        ),
        # short SELL 2 @ 100
        # −1·(105 − 105.105)/105·1e4 = 0.105/105·1e4 = 10
        pytest.param(Side.SHORT, [("2", "105.105", SL, "105")], SL, D(10), id="short-stop-slipped"),
        # −1·(90 − 90.09)/90·1e4 = 10
        pytest.param(Side.SHORT, [("2", "90.09", TP, "90")], TP, D(10), id="short-target-slipped"),
        # −1·(96 − 96.096)/96·1e4 = 10
        pytest.param(Side.SHORT, [("2", "96.096", TL, "96")], TL, D(10), id="short-time-limit-slipped"),
        pytest.param(Side.SHORT, [("2", "102.1", LIQ, "102")], LIQ, D(0), id="short-liquidation-zero"),
        pytest.param(Side.SHORT, [("2", "99", None, None)], MAN, D(0), id="short-no-cause-manual"),
    ],
)
def test_exit_reason_and_exit_slippage(
    side: Side,
    exits: list[tuple[str, str, ExitReason | None, str | None]],
    reason: ExitReason,
    exit_bps: Decimal | approx6 | None,
) -> None:
    rec = Recommendation.BUY if side is Side.LONG else Recommendation.SELL
    stop, tp = ("95", "110") if side is Side.LONG else ("105", "90")
    analysis = make_analysis(rec, stop=stop, tp=tp)
    fills = [f(side.entry_order_side, "100", "2", ref="100", entry=True)]
    fills += [f(side.exit_order_side, price, size, cause=cause, ref=ref) for size, price, cause, ref in exits]
    outcome = compute_outcome(analysis, fills, [], closed_at=T1, lowest=D(90), highest=D(110))
    assert outcome.exit_reason is reason
    if exit_bps is not None:
        check(outcome, {"exit_slippage_bps": exit_bps})


# --------------------------------------------------------------------------- entry slippage reference


@pytest.mark.parametrize(
    ("side", "analysis_entry", "fill_price", "fill_ref", "expected"),
    [
        # the analysis' entryPrice is the reference when given: (100.2 − 100)/100·1e4 = 20
        pytest.param(Side.LONG, "100", "100.2", "100.1", D(20), id="long-analysis-reference"),
        # else the entry fill's reference (the candle open): (100.05 − 100)/100·1e4 = 5
        pytest.param(Side.LONG, None, "100.05", "100", D(5), id="long-fill-reference"),
        pytest.param(Side.LONG, None, "100", None, D(0), id="long-no-reference"),
        # filled better than the reference: negative. (99.8 − 100)/100·1e4 = −20
        pytest.param(Side.LONG, "100", "99.8", "100", D(-20), id="long-favourable"),
        # short: −1·(199.6 − 200)/200·1e4 = 20
        pytest.param(Side.SHORT, "200", "199.6", "200", D(20), id="short-analysis-reference"),
        # short favourable vs the analysis' 200 (not the fill's 199): −1·(200.2 − 200)/200·1e4 = −10
        pytest.param(Side.SHORT, "200", "200.2", "199", D(-10), id="short-favourable"),
        # short, fill reference 50: −1·(49.95 − 50)/50·1e4 = 10
        pytest.param(Side.SHORT, None, "49.95", "50", D(10), id="short-fill-reference"),
    ],
)
def test_entry_slippage_reference(
    side: Side, analysis_entry: str | None, fill_price: str, fill_ref: str | None, expected: Decimal
) -> None:
    rec = Recommendation.BUY if side is Side.LONG else Recommendation.SELL
    analysis = make_analysis(rec, entry=analysis_entry, stop="1", tp="1000")
    fills = [
        f(side.entry_order_side, fill_price, "1", ref=fill_ref, entry=True),
        f(side.exit_order_side, fill_price, "1", cause=TL, ref=fill_price),
    ]
    outcome = compute_outcome(analysis, fills, [], closed_at=T1, lowest=D(1), highest=D(1000))
    assert outcome.entry_slippage_bps == expected
    assert outcome.exit_slippage_bps == 0
    assert outcome.slippage_bps == expected


# --------------------------------------------------------------------------- edge cases


def test_target_price_defaults_to_take_profit() -> None:
    # no targetPrice: target = takeProfit 120; exit 110 from 100: 1 − 10/20 = 0.5
    analysis = make_analysis(Recommendation.BUY, stop="90", tp="120")
    fills = [f(BUY, "100", "1", entry=True), f(SELL, "110", "1", cause=MAN)]
    outcome = compute_outcome(analysis, fills, [], closed_at=T1, lowest=D(99), highest=D(111))
    assert outcome.price_accuracy == D("0.5")
    assert outcome.accuracy_score == D("0.5")


def test_actual_rr_is_none_without_risk() -> None:
    analysis = make_analysis(Recommendation.BUY, stop="100", tp="120")  # stop at the entry fill
    fills = [f(BUY, "100", "1", entry=True), f(SELL, "110", "1", cause=TP, ref="110")]
    outcome = compute_outcome(analysis, fills, [], closed_at=T1, lowest=D(100), highest=D(110))
    assert outcome.actual_rr is None


def test_hold_analysis_has_no_outcome() -> None:
    analysis = make_analysis(Recommendation.HOLD, stop="90", tp="110")
    with pytest.raises(IncompleteTradeError):
        compute_outcome(analysis, [], [], closed_at=T1, lowest=D(1), highest=D(2))


@pytest.mark.parametrize(
    "fills",
    [
        pytest.param([], id="no-fills"),
        pytest.param([("BUY", "100", "2")], id="entry-only"),
        pytest.param([("BUY", "100", "2"), ("SELL", "105", "1")], id="partly-closed"),
        pytest.param([("SELL", "105", "1")], id="exit-only"),
    ],
)
def test_open_position_has_no_outcome(fills: list[tuple[str, str, str]]) -> None:
    analysis = make_analysis(Recommendation.BUY, stop="90", tp="110")
    built = [f(OrderSide(side), price, size) for side, price, size in fills]
    with pytest.raises(IncompleteTradeError):
        compute_outcome(analysis, built, [], closed_at=T1, lowest=D(1), highest=D(2))
    assert issubclass(IncompleteTradeError, ValueError)


# --------------------------------------------------------------------------- freqtrade's own vectors
# anchors.md 1.6.1 (freqtrade tests/persistence/test_persistence.py::test_calc_profit), futures rows 28-59
# and the spot long rows 1, 13, 25-27 (spot long at 1x is the same accounting: fees on both legs, no
# interest). Margin rows are skipped: they charge borrow interest, which perps do not have.
#
# Mapping onto ours: amount 30 at open_rate 2.0 → entry fill 30 @ 2.0 with fee 0.0025·60 = 0.15; exit fill
# 30 @ close_rate with fee fee_close·30·close_rate; freqtrade's `funding_fees` (positive = gained, for both
# sides) → one FundingPayment of that amount. Then freqtrade's
#   profit_abs = close_value − open_value (long) / open_value − close_value (short)
#              = price pnl − open fee − close fee + funding_fees = our pnl_usd.
#   profit_ratio = profit_abs / open_trade_value · leverage, where open_trade_value = 60·(1 ± fee_open)
#              includes the entry fee; ours is roePercent = pnl_usd / (60 / leverage) · 100, so
#   profit_ratio = roePercent / 100 · 60 / open_trade_value.
# Worked row 51 (short 3x, close 2.2, funding −1): −(66 − 60) − 0.15 − 0.165 − 1 = −7.315;
#   ratio −7.315/59.85·3 = −0.3666667.
FREQTRADE_CALC_PROFIT = [
    # row, is_short, lev, fee_close, funding, close_rate, profit_abs, profit_ratio
    (1, False, 1, "0.0025", "0", "2.1", 2.6925, 0.044763092),
    (13, False, 1, "0.0025", "0", "2.1", 2.6925, 0.044763092),
    (25, False, 1, "0.003", "0", "2.1", 2.661, 0.044239401),
    (26, False, 1, "0.003", "0", "1.9", -3.3209999, -0.05521197),
    (27, False, 1, "0.003", "0", "2.2", 5.652, 0.093965087),
    (28, False, 1, "0.0025", "1", "2.1", 3.6925, 0.06138819),
    (29, False, 3, "0.0025", "1", "2.1", 3.6925, 0.18416458),
    (30, True, 1, "0.0025", "1", "2.1", -2.3074999, -0.03855472),
    (31, True, 3, "0.0025", "1", "2.1", -2.3074999, -0.11566416),
    (32, False, 1, "0.0025", "1", "1.9", -2.2925, -0.03811305),
    (33, False, 3, "0.0025", "1", "1.9", -2.2925, -0.11433915),
    (34, True, 1, "0.0025", "1", "1.9", 3.7075, 0.06194653),
    (35, True, 3, "0.0025", "1", "1.9", 3.7075, 0.18583959),
    (36, False, 1, "0.0025", "1", "2.2", 6.685, 0.11113881),
    (37, False, 3, "0.0025", "1", "2.2", 6.685, 0.33341645),
    (38, True, 1, "0.0025", "1", "2.2", -5.315, -0.08880534),
    (39, True, 3, "0.0025", "1", "2.2", -5.315, -0.26641604),
    (40, False, 1, "0.0025", "-1", "2.1", 1.6925, 0.02813798),
    (41, False, 3, "0.0025", "-1", "2.1", 1.6925, 0.08441396),
    (42, True, 1, "0.0025", "-1", "2.1", -4.307499, -0.07197159),
    (43, True, 3, "0.0025", "-1", "2.1", -4.307499, -0.21591478),
    (44, False, 1, "0.0025", "-1", "1.9", -4.292499, -0.07136325),
    (45, False, 3, "0.0025", "-1", "1.9", -4.292499, -0.21408977),
    (46, True, 1, "0.0025", "-1", "1.9", 1.7075, 0.02852965),
    (47, True, 3, "0.0025", "-1", "1.9", 1.7075, 0.08558897),
    (48, False, 1, "0.0025", "-1", "2.2", 4.684999, 0.07788861),
    (49, False, 3, "0.0025", "-1", "2.2", 4.684999, 0.23366583),
    (50, True, 1, "0.0025", "-1", "2.2", -7.315, -0.12222222),
    (51, True, 3, "0.0025", "-1", "2.2", -7.315, -0.36666666),
    (52, False, 1, "0.0025", "0", "2.1", 2.6925, 0.04476309),
    (53, False, 3, "0.0025", "0", "2.1", 2.6925, 0.13428928),
    (54, True, 1, "0.0025", "0", "2.1", -3.3074999, -0.05526316),
    (55, True, 3, "0.0025", "0", "2.1", -3.3074999, -0.16578947),
    (56, False, 1, "0.0025", "0", "1.9", -3.2925, -0.05473815),
    (57, False, 3, "0.0025", "0", "1.9", -3.2925, -0.16421446),
    (58, True, 1, "0.0025", "0", "1.9", 2.7075, 0.0452381),
    (59, True, 3, "0.0025", "0", "1.9", 2.7075, 0.13571429),
]
FEE_OPEN = D("0.0025")


def _freqtrade_ratio(outcome: Outcome, fee_open: Decimal) -> float:
    open_value = outcome.entry_notional * (1 + (-1 if outcome.side is Side.SHORT else 1) * fee_open)
    return float(outcome.roe_percent / 100 * outcome.entry_notional / open_value)


@pytest.mark.parametrize(
    ("row", "is_short", "lev", "fee_close", "funding_fees", "close_rate", "profit", "ratio"),
    FREQTRADE_CALC_PROFIT,
    ids=[f"row-{r[0]}" for r in FREQTRADE_CALC_PROFIT],
)
def test_freqtrade_calc_profit_vectors(
    row: int,
    is_short: bool,
    lev: int,
    fee_close: str,
    funding_fees: str,
    close_rate: str,
    profit: float,
    ratio: float,
) -> None:
    side = Side.SHORT if is_short else Side.LONG
    analysis = make_analysis(
        Recommendation.SELL if is_short else Recommendation.BUY,
        stop="3" if is_short else "1",
        tp="1" if is_short else "3",
        leverage=str(lev),
        size_usd="60",
    )
    close = D(close_rate)
    fills = [
        f(side.entry_order_side, "2.0", "30", str(FEE_OPEN * 60), entry=True),
        f(side.exit_order_side, close_rate, "30", str(D(fee_close) * 30 * close), cause=MAN),
    ]
    outcome = compute_outcome(analysis, fills, funding(funding_fees), closed_at=T1, lowest=D(1), highest=D(3))
    assert float(outcome.pnl_usd) == pytest.approx(profit, rel=1e-6)
    assert _freqtrade_ratio(outcome, FEE_OPEN) == pytest.approx(ratio, rel=1e-6)


# anchors.md 1.6.3 (test_calc_open_close_trade_price), futures rows and the spot long row: a long buys
# 30 @ 2.0 and sells 30 @ 2.2; a short sells 30 @ 2.2 and buys back 30 @ 2.0; fee 0.0025 both legs.
# close_profit_abs = 30·0.2 − 0.0025·(60 + 66) + funding = 6 − 0.315 + funding = 5.685 + funding (both sides);
# close_profit = close_profit_abs / open value · leverage, open value 60.15 (long) / 65.835 (short).
FREQTRADE_OPEN_CLOSE = [
    # is_short, lev, funding, close_profit_abs, close_profit
    (False, 1, "0", 5.685, 0.09451371),  # spot long, also the futures row with funding 0
    (False, 1, "1", 6.685, 0.11113881),
    (True, 1, "0", 5.685, 0.08635224),
    (True, 1, "-1", 4.685, 0.07116276),
    (True, 3, "1", 6.685, 0.3046252),
    (False, 3, "-1", 4.685, 0.23366583),
]


@pytest.mark.parametrize(("is_short", "lev", "funding_fees", "profit", "ratio"), FREQTRADE_OPEN_CLOSE)
def test_freqtrade_open_close_vectors(
    is_short: bool, lev: int, funding_fees: str, profit: float, ratio: float
) -> None:
    side = Side.SHORT if is_short else Side.LONG
    entry, exit_ = ("2.2", "2.0") if is_short else ("2.0", "2.2")
    analysis = make_analysis(
        Recommendation.SELL if is_short else Recommendation.BUY,
        stop="3" if is_short else "1",
        tp="1" if is_short else "3",
        leverage=str(lev),
    )
    fills = [
        f(side.entry_order_side, entry, "30", str(FEE_OPEN * 30 * D(entry)), entry=True),
        f(side.exit_order_side, exit_, "30", str(FEE_OPEN * 30 * D(exit_)), cause=MAN),
    ]
    outcome = compute_outcome(analysis, fills, funding(funding_fees), closed_at=T1, lowest=D(1), highest=D(3))
    assert float(outcome.pnl_usd) == pytest.approx(profit, rel=1e-6)
    assert _freqtrade_ratio(outcome, FEE_OPEN) == pytest.approx(ratio, rel=1e-6)


# anchors.md 1.6.5 test_recalc_trade_from_orders_dca (spot, 1x, so the same accounting as ours without
# funding). Only the end of each sequence is compared: freqtrade books realized profit per exit against the
# running average, which for a fully closed position adds up to Σ exit notional − Σ entry notional, the same
# as ours. end_profit_ratio = end_profit / Σ entry value incl. fee = pnlPercent/100 / (1 + fee).
DCA = [
    pytest.param(
        [
            ("BUY", "10", "100"),
            ("BUY", "15", "100"),
            ("SELL", "12", "50"),
            ("SELL", "20", "100"),
            ("SELL", "5", "50"),
        ],
        "0",
        350.0,
        0.14,
        id="2-entries-3-exits-no-fee",  # exits 600 + 2000 + 250 = 2850 − entries 1000 + 1500 = 2500 → 350
    ),
    pytest.param(
        [
            ("BUY", "10", "100"),
            ("BUY", "15", "100"),
            ("SELL", "12", "50"),
            ("SELL", "20", "100"),
            ("SELL", "5", "50"),
        ],
        "0.0025",
        336.625,
        0.1343142,
        id="2-entries-3-exits-fee",  # 350 − 0.0025·(2500 + 2850) = 350 − 13.375 = 336.625
    ),
    pytest.param(
        [
            ("BUY", "3", "100"),
            ("BUY", "7", "100"),
            ("SELL", "11", "100"),
            ("BUY", "15", "150"),
            ("SELL", "19", "100"),
            ("SELL", "23", "150"),
        ],
        "0",
        3200.0,
        0.98461538,
        id="re-entry-no-fee",  # exits 1100 + 1900 + 3450 = 6450 − entries 300 + 700 + 2250 = 3250 → 3200
    ),
    pytest.param(
        [
            ("BUY", "3", "100"),
            ("BUY", "7", "100"),
            ("SELL", "11", "100"),
            ("BUY", "15", "150"),
            ("SELL", "19", "100"),
            ("SELL", "23", "150"),
        ],
        "0.0025",
        3175.75,
        0.9747170,
        id="re-entry-fee",  # 3200 − 0.0025·(3250 + 6450) = 3200 − 24.25 = 3175.75
    ),
]


@pytest.mark.parametrize(("orders", "fee", "end_profit", "end_ratio"), DCA)
def test_freqtrade_dca_vectors(
    orders: list[tuple[str, str, str]], fee: str, end_profit: float, end_ratio: float
) -> None:
    analysis = make_analysis(Recommendation.BUY, stop="1", tp="30")
    fills = [
        f(OrderSide(side), price, amount, str(D(fee) * D(price) * D(amount)), entry=side == "BUY")
        for side, price, amount in orders
    ]
    outcome = compute_outcome(analysis, fills, [], closed_at=T1, lowest=D(3), highest=D(23))
    assert float(outcome.pnl_usd) == pytest.approx(end_profit, rel=1e-6)
    assert float(outcome.pnl_percent / 100 / (1 + D(fee))) == pytest.approx(end_ratio, rel=1e-6)
