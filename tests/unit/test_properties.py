"""Hypothesis properties of the pure domain: PnL, excursions, scores, paper-fill rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

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
from driftloop.domain.outcome import clip_exit_bar, compute_outcome, excursions
from driftloop.domain.pnl import liquidation_price, summarize
from driftloop.domain.scoring import brier, classify, price_accuracy
from driftloop.domain.triggers import Bracket, resolve_bar

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=D(low), max_value=D(high), places=places, allow_nan=False, allow_infinity=False
    )


# Bounded so that every product price·size (≤ 10 + 10 significant digits) and every sum of a few of them
# stays inside Decimal's default 28-digit precision: sums of fills are then exact.
prices = decimals("0.0001", "100000", 4)
sizes = decimals("0.000001", "10000", 6)
fees = decimals("-10", "100", 6)
amounts = decimals("-100", "100", 6)
sides = st.sampled_from([Side.LONG, Side.SHORT])
Leg = tuple[Decimal, Decimal, Decimal]  # price, size, fee
legs = st.lists(st.tuples(prices, sizes, fees), min_size=1, max_size=4)


ZERO = D(0)


def fill(side: OrderSide, price: Decimal, size: Decimal, fee: Decimal = ZERO) -> Fill:
    return Fill(fill_id="f", ts=T0, side=side, price=price, size=size, fee=fee, leg=OrderLeg.EXTERNAL)


def position(side: Side, entries: list[Leg], exits: list[Leg]) -> list[Fill]:
    return [fill(side.entry_order_side, p, s, fee) for p, s, fee in entries] + [
        fill(side.exit_order_side, p, s, fee) for p, s, fee in exits
    ]


def balanced(entries: list[Leg], exits: list[Leg], price: Decimal) -> tuple[list[Leg], list[Leg]]:
    """Add one fill at `price` to the smaller side so that the position closes exactly."""
    gap = sum((s for _, s, _ in entries), ZERO) - sum((s for _, s, _ in exits), ZERO)
    if gap > 0:
        exits = [*exits, (price, gap, ZERO)]
    elif gap < 0:
        entries = [*entries, (price, -gap, ZERO)]
    return entries, exits


def analysis_for(side: Side, stop: Decimal, target: Decimal) -> Analysis:
    return Analysis(
        id="a",
        timestamp=T0,
        symbol="SOL-PERP",
        timeframe=Timeframe.H1,
        prediction=Prediction.NEUTRAL,
        confidence=D(50),
        recommendation=Recommendation.BUY if side is Side.LONG else Recommendation.SELL,
        stop_loss=stop,
        take_profit=target,
        size_usd=D(1000),
    )


@given(sides, prices, st.lists(sizes, min_size=1, max_size=4), st.lists(sizes, min_size=1, max_size=4))
def test_round_trip_at_one_price_without_costs_is_exactly_zero(
    side: Side, price: Decimal, entry_sizes: list[Decimal], exit_sizes: list[Decimal]
) -> None:
    entries, exits = balanced(
        [(price, s, ZERO) for s in entry_sizes], [(price, s, ZERO) for s in exit_sizes], price
    )
    summary = summarize(side, position(side, entries, exits))
    assert summary.is_closed
    assert summary.price_pnl == 0
    assert summary.net_pnl == 0
    outcome = compute_outcome(
        analysis_for(side, price / 2, price * 2),
        position(side, entries, exits),
        [],
        closed_at=T0,
        lowest=price,
        highest=price,
    )
    assert outcome.pnl_usd == 0
    assert outcome.outcome is OutcomeClass.BREAKEVEN
    assert not outcome.direction_correct


@given(legs, legs)
def test_pnl_is_antisymmetric_between_long_and_short_at_zero_cost(
    entries: list[Leg], exits: list[Leg]
) -> None:
    entries = [(p, s, D(0)) for p, s, _ in entries]
    exits = [(p, s, D(0)) for p, s, _ in exits]
    long = summarize(Side.LONG, position(Side.LONG, entries, exits))
    short = summarize(Side.SHORT, position(Side.SHORT, entries, exits))
    assert long.net_pnl == -short.net_pnl
    assert long.price_pnl == -short.price_pnl


@given(sides, legs, legs, prices, st.lists(amounts, max_size=4))
def test_pnl_usd_is_price_pnl_minus_fees_plus_funding(
    side: Side, entries: list[Leg], exits: list[Leg], close: Decimal, funding: list[Decimal]
) -> None:
    entries, exits = balanced(entries, exits, close)
    fills = position(side, entries, exits)
    payments = [FundingPayment(ts=T0, rate=D(0), amount=a) for a in funding]
    entry_price = entries[0][0]
    outcome = compute_outcome(
        analysis_for(side, entry_price / 2, entry_price * 2),
        fills,
        payments,
        closed_at=T0,
        lowest=D("0.0001"),
        highest=D(100000),
    )
    total_fees = sum(fee for _, _, fee in entries + exits)
    assert outcome.fees_usd == total_fees
    assert outcome.funding_usd == sum(funding, D(0))
    assert outcome.pnl_usd == outcome.price_pnl - outcome.fees_usd + outcome.funding_usd
    # price PnL of a closed position = ±(Σ exit notional − Σ entry notional), exactly
    exact = side.sign * (sum(p * s for p, s, _ in exits) - sum(p * s for p, s, _ in entries))
    assert outcome.price_pnl == exact


@given(sides, legs, legs, prices, st.data())
def test_splitting_a_fill_does_not_change_pnl(
    side: Side, entries: list[Leg], exits: list[Leg], close: Decimal, data: st.DataObject
) -> None:
    entries, exits = balanced(entries, exits, close)
    fills = position(side, entries, exits)
    index = data.draw(st.integers(0, len(fills) - 1), label="fill to split")
    target = fills[index]
    assume(target.size >= D("0.000002"))
    part = data.draw(
        st.decimals(min_value=D("0.000001"), max_value=target.size - D("0.000001"), places=6), label="part"
    )
    fee_part = data.draw(fees, label="fee part")
    first = fill(target.side, target.price, part, fee_part)
    second = fill(target.side, target.price, target.size - part, target.fee - fee_part)
    split = [*fills[:index], first, second, *fills[index + 1 :]]
    whole, parts = summarize(side, fills), summarize(side, split)
    assert parts.fees == whole.fees
    assert parts.avg_entry == whole.avg_entry  # Σ p·s and Σ s are exact, so the average is the same
    assert parts.entry_size == whole.entry_size
    assert parts.exit_size == whole.exit_size
    assert parts.net_pnl == whole.net_pnl


@given(sides, prices, prices, prices)
def test_excursions_are_never_negative(side: Side, entry: Decimal, a: Decimal, b: Decimal) -> None:
    mae, mfe = excursions(side, entry, min(a, b), max(a, b))
    assert mae >= 0
    assert mfe >= 0


@given(sides, st.sampled_from(list(ExitReason)), prices, prices, st.integers(0, 100))
def test_excursions_over_a_clipped_exit_bar_are_never_negative(
    side: Side, reason: ExitReason, a: Decimal, b: Decimal, at_percent: int
) -> None:
    low, high = min(a, b), max(a, b)
    exit_price = low + (high - low) * at_percent / 100
    lowest, highest = clip_exit_bar(side, reason, low, high, exit_price)
    assert low <= lowest <= highest <= high
    mae, mfe = excursions(side, exit_price, lowest, highest)
    assert mae >= 0
    assert mfe >= 0


@given(prices, prices, prices)
def test_price_accuracy_is_between_zero_and_one(entry: Decimal, target: Decimal, actual: Decimal) -> None:
    assert 0 <= price_accuracy(entry, target, actual) <= 1


@given(
    st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(list(OutcomeClass)),
)
def test_brier_is_between_zero_and_one(confidence: Decimal, outcome: OutcomeClass) -> None:
    assert 0 <= brier(confidence / 100, outcome) <= 1


@given(
    st.decimals(min_value=-100, max_value=100, places=4, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False),
)
def test_classification_is_symmetric(pnl_percent: Decimal, band: Decimal) -> None:
    mirrored = {OutcomeClass.WIN: OutcomeClass.LOSS, OutcomeClass.LOSS: OutcomeClass.WIN}
    result = classify(pnl_percent, band)
    assert classify(-pnl_percent, band) is mirrored.get(result, OutcomeClass.BREAKEVEN)


@given(
    prices,
    st.integers(1, 100),
    st.decimals(min_value=0, max_value=D("0.1"), places=4, allow_nan=False, allow_infinity=False),
)
def test_liquidation_is_on_the_adverse_side_of_entry(entry: Decimal, leverage: int, m: Decimal) -> None:
    assume(m < D(1) / leverage)  # otherwise the position is below maintenance from the start
    assert liquidation_price(Side.LONG, entry, D(leverage), m) < entry
    assert liquidation_price(Side.SHORT, entry, D(leverage), m) > entry


@given(sides, prices, prices, prices, prices, st.data())
def test_resolve_bar_without_slippage_fills_inside_the_candle(
    side: Side, a: Decimal, b: Decimal, c: Decimal, d: Decimal, data: st.DataObject
) -> None:
    low, stop, target, high = sorted([a, b, c, d])
    if side is Side.SHORT:
        stop, target = target, stop
    liquidation = data.draw(st.none() | prices, label="liquidation")
    open_ = data.draw(st.sampled_from([low, high, (low + high) / 2]), label="open")
    result = resolve_bar(Bracket(side, stop, target, liquidation, D(0)), open_, high, low)
    if result is not None:
        assert low <= result.price <= high
