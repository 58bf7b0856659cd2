"""Properties of the history rebuild over random fill sequences (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from driftloop.domain.history import FILL, EventKey, HistoryBook, HistoryFill
from driftloop.domain.model import Fill, OrderLeg, OrderSide, TradeStatus
from driftloop.domain.trade import AccountRef, Trade

ACCT = AccountRef("p", "drift", 0)
KEY = "acct"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

fill_spec = st.tuples(
    st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
    st.integers(1, 5000).map(lambda n: Decimal(n) / 1000),  # base, 0.001 steps
    st.integers(5000, 15000).map(lambda n: Decimal(n) / 100),  # price, cents
    st.integers(-50, 500).map(lambda n: Decimal(n) / 10000),  # fee (negative: a rebate)
)


def make(specs: list[tuple[OrderSide, Decimal, Decimal, Decimal]]) -> list[HistoryFill]:
    events = []
    for i, (side, size, price, fee) in enumerate(specs):
        ts = T0 + timedelta(seconds=i)
        fill = Fill(f"drift:0:{i}:taker", ts, side, price, size, fee, OrderLeg.ENTRY, role="taker")
        events.append(HistoryFill(EventKey(ts, i, f"tx{i}", 0, FILL, fill.fill_id), "SOL-PERP", fill))
    return events


def run(events: list[HistoryFill], book: HistoryBook | None = None) -> tuple[HistoryBook, dict[str, Trade]]:
    book = book or HistoryBook(ACCT, KEY)
    trades: dict[str, Trade] = {}
    for event in events:
        book.apply(event)
        trades.update((t.id, t) for t in book.touched())
    return book, trades


@settings(max_examples=150, deadline=None)
@given(st.lists(fill_spec, min_size=1, max_size=25))
def test_cash_fees_and_sizes_are_conserved(specs: list[tuple[OrderSide, Decimal, Decimal, Decimal]]) -> None:
    events = make(specs)
    # close whatever is left so the account ends flat
    net = sum((s if side is OrderSide.BUY else -s for side, s, _, _ in specs), Decimal(0))
    if net:
        side = OrderSide.SELL if net > 0 else OrderSide.BUY
        specs = [*specs, (side, abs(net), Decimal(100), Decimal(0))]
        events = make(specs)
    book, trades = run(events)
    assert book.open_trade_count() == 0 and book.issues == []
    closed = list(trades.values())
    assert all(t.status is TradeStatus.CLOSED and t.outcome is not None for t in closed)
    # every fill's size and fee is accounted for exactly once, split parts included
    assert sum((f.size for t in closed for f in t.fills), Decimal(0)) == sum(
        (s for _, s, _, _ in specs), Decimal(0)
    )
    assert sum((f.fee for t in closed for f in t.fills), Decimal(0)) == sum(
        (f for *_, f in specs), Decimal(0)
    )
    # the trades' PnL is the account's cash flow: sells − buys − fees
    cash = sum(((p * s if side is OrderSide.SELL else -p * s) - f for side, s, p, f in specs), Decimal(0))
    assert sum((t.outcome.pnl_usd for t in closed if t.outcome), Decimal(0)) == cash
    for trade in closed:  # each closed trade nets to zero
        assert sum((f.size if f.side is OrderSide.BUY else -f.size for f in trade.fills), Decimal(0)) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(fill_spec, min_size=2, max_size=20), st.data())
def test_resuming_from_the_open_trades_at_any_cut_ends_like_one_run(
    specs: list[tuple[OrderSide, Decimal, Decimal, Decimal]], data: st.DataObject
) -> None:
    events = make(specs)
    _, whole = run(events)
    cut = data.draw(st.integers(1, len(events) - 1))
    _, first = run(events[:cut])
    resumed = HistoryBook.resume(ACCT, KEY, [t for t in first.values() if t.status is TradeStatus.OPEN])
    _, rest = run(events[cut:], resumed)
    assert {**first, **rest} == whole
