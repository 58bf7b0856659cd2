"""Rebuilding trades from a Drift account's fills and funding: figures worked by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from driftloop.adapters.drift_data.records import RecordParser
from driftloop.domain.history import IMPORT_ANALYST, HistoryBook, HistoryEvent, is_imported
from driftloop.domain.model import ExitReason, OrderLeg, OutcomeClass, Side, TradeStatus
from driftloop.domain.trade import AccountRef, Trade
from history_stub import T0, fill_record, funding_record, settle_record

from history_stub import ACCOUNT  # isort: skip

D = Decimal
ACCT = AccountRef("alice", "drift", 0)


def events(
    trades: list[dict[str, Any]] = (), funding: list[dict[str, Any]] = (), settles: list[dict[str, Any]] = ()
) -> list[HistoryEvent]:  # type: ignore[assignment]
    parser = RecordParser("test", ACCOUNT)
    found: list[HistoryEvent] = []
    for record in trades:
        found.extend(parser.fills(record))
    found.extend(parser.funding(r) for r in funding)
    found.extend(parser.settle(r) for r in settles)
    return sorted(found, key=lambda e: e.key)


def rebuild(evs: list[HistoryEvent], book: HistoryBook | None = None) -> tuple[HistoryBook, dict[str, Trade]]:
    book = book or HistoryBook(ACCT, ACCOUNT)
    trades: dict[str, Trade] = {}
    for event in evs:
        book.apply(event)
        trades.update((t.id, t) for t in book.touched())
    return book, trades


def closed(trades: dict[str, Trade]) -> list[Trade]:
    return sorted(
        (t for t in trades.values() if t.status is TradeStatus.CLOSED), key=lambda t: t.opened_at or 0
    )


def test_long_round_trip_with_fees_and_funding() -> None:
    evs = events(
        [
            fill_record(1, T0, side="long", base="2.000000000", quote="200.000000", fee="0.070000"),
            fill_record(
                2,
                T0 + 7200,
                side="short",
                base="2.000000000",
                quote="220.000000",
                fee="0.077000",
                reduced_entry="200",
            ),
        ],
        [
            funding_record(T0 + 3600, "0.010000", "2.000000000"),
            funding_record(T0 + 5400, "-0.030000", "2.000000000"),
        ],
    )
    book, trades = rebuild(evs)
    (trade,) = closed(trades)
    o = trade.outcome
    assert o is not None
    # price 20 − fees 0.147 + funding −0.02
    assert o.price_pnl == D(20) and o.fees_usd == D("0.147") and o.funding_usd == D("-0.02")
    assert o.pnl_usd == D("19.833") and o.pnl_percent == D("9.9165") and o.roe_percent == D("9.9165")
    assert o.entry_price == D(100) and o.exit_price == D(110) and o.size == D(2)
    assert o.outcome is OutcomeClass.WIN and o.exit_reason is ExitReason.MANUAL and o.direction_correct
    assert o.actual_rr is None and o.closed_at == trade.fills[-1].ts
    assert [f.leg for f in trade.fills] == [OrderLeg.ENTRY, OrderLeg.EXTERNAL]
    assert is_imported(trade, ACCOUNT) and trade.analysis.analyst == IMPORT_ANALYST
    assert trade.learning_data["source"] == "import" and trade.run_id == ""
    assert book.issues == [] and book.open_trade_count() == 0


def test_a_flip_closes_the_trade_and_opens_the_next_with_the_rest() -> None:
    evs = events(
        [
            fill_record(1, T0, side="long", base="1.000000000", quote="100.000000", fee="0.050000"),
            fill_record(2, T0 + 60, side="short", base="3.000000000", quote="270.000000", fee="0.270000"),
            fill_record(3, T0 + 120, side="long", base="2.000000000", quote="160.000000", fee="0.160000"),
        ]
    )
    _, trades = rebuild(evs)
    first, second = closed(trades)
    assert first.outcome is not None and second.outcome is not None
    # closing part: 1 of 3 at 90, fee 0.09 (pro rata); (90 − 100)·1 − 0.05 − 0.09
    assert first.outcome.pnl_usd == D("-10.14") and first.outcome.outcome is OutcomeClass.LOSS
    assert [(f.fill_id, f.size, f.fee) for f in first.fills] == [
        ("drift:0:1:taker", D(1), D("0.05")),
        ("drift:0:2:taker", D(1), D("0.09")),
    ]
    # the rest: short 2 at 90 (fee 0.18), covered at 80: (180 − 160) − 0.18 − 0.16
    assert second.side is Side.SHORT and second.fills[0].fill_id == "drift:0:2:taker:rest"
    assert second.fills[0].size == D(2) and second.fills[0].fee == D("0.18")
    assert second.outcome.pnl_usd == D("19.66") and second.outcome.outcome is OutcomeClass.WIN
    assert second.analysis.stop_loss == D(90) and second.analysis.confidence == D(50)


def test_a_flip_splits_an_uneven_fee_so_the_parts_add_up_exactly() -> None:
    evs = events(
        [
            fill_record(1, T0, side="long", base="1.000000000", quote="100.000000", fee="0"),
            fill_record(2, T0 + 60, side="short", base="3.000000000", quote="300.000000", fee="0.100000"),
        ]
    )
    book, trades = rebuild(evs)
    closing = closed(trades)[0].fills[-1]
    rest = next(t for t in trades.values() if t.status is TradeStatus.OPEN).fills[0]
    assert closing.fee == D("0.033333333333333333") and rest.fee == D("0.066666666666666667")
    assert closing.fee + rest.fee == D("0.1") and book.open_trade_count() == 1


def test_partial_fills_with_maker_rebates() -> None:
    evs = events(
        [
            fill_record(
                1, T0, side="long", base="1.000000000", quote="100.000000", fee="-0.002500", role="maker"
            ),
            fill_record(
                2, T0 + 10, side="long", base="1.000000000", quote="102.000000", fee="-0.002500", role="maker"
            ),
            fill_record(
                3, T0 + 20, side="short", base="0.500000000", quote="55.000000", fee="-0.002500", role="maker"
            ),
            fill_record(
                4,
                T0 + 30,
                side="short",
                base="1.500000000",
                quote="157.500000",
                fee="-0.002500",
                role="maker",
            ),
        ]
    )
    _, trades = rebuild(evs)
    (trade,) = closed(trades)
    o = trade.outcome
    assert o is not None
    # entries 100 + 102 = 202 (avg 101); exits 55 + 157.5 = 212.5; rebates 4 × 0.0025 received
    assert o.entry_price == D(101) and o.exit_price == D("106.25") and o.size == D(2)
    assert o.price_pnl == D("10.5") and o.fees_usd == D("-0.01") and o.pnl_usd == D("10.51")
    assert all(f.role == "maker" for f in trade.fills) and trade.size == D(2) and trade.entry_price == D(101)


def test_liquidation_is_the_exit_reason() -> None:
    evs = events(
        [
            fill_record(1, T0, side="long", base="10.000000000", quote="1000.000000", fee="0.350000"),
            fill_record(
                2,
                T0 + 99,
                side="short",
                base="10.000000000",
                quote="905.000000",
                fee="0.905000",
                explanation="liquidation",
                reduced_entry="1000.000000",
            ),
        ]
    )
    book, trades = rebuild(evs)
    (trade,) = closed(trades)
    assert trade.outcome is not None and trade.outcome.exit_reason is ExitReason.LIQUIDATION
    assert trade.outcome.pnl_usd == D("-96.255") and trade.outcome.exit_slippage_bps == 0
    assert book.issues == []  # the venue's "reduced" agrees with the rebuild


def test_funding_belongs_to_the_open_trade_and_mismatches_are_reported() -> None:
    evs = events(
        [
            fill_record(1, T0 + 100, side="short", base="1.000000000", quote="100.000000"),
            fill_record(
                2, T0 + 900, side="long", base="1.000000000", quote="100.000000", reduced_entry="100"
            ),
        ],
        [
            funding_record(T0, "0.500000", "0.000000000"),  # before the trade: nobody's
            funding_record(T0 + 200, "0.004000", "-1.000000000"),  # the short's
            funding_record(T0 + 300, "0.001000", "-2.000000000"),  # the short's, the venue disagrees on size
        ],
    )
    book, trades = rebuild(evs)
    (trade,) = closed(trades)
    assert [p.amount for p in trade.funding] == [D("0.004"), D("0.001")]
    assert trade.outcome is not None and trade.outcome.pnl_usd == D("0.005")
    assert trade.outcome.outcome is OutcomeClass.BREAKEVEN  # 0.005 % of 100 is within 0.05 %
    assert [i.kind for i in book.issues] == ["funding-unattributed", "position-mismatch"]


def test_a_position_opened_before_the_history_is_skipped_and_its_flip_rest_kept() -> None:
    evs = events(
        [
            fill_record(
                1, T0, side="short", base="1.000000000", quote="100.000000", reduced_entry="95.000000"
            ),
            fill_record(
                2,
                T0 + 60,
                side="short",
                base="3.000000000",
                quote="300.000000",
                fee="0.300000",
                reduced_entry="95.000000",
                flipped_base="1.000000000",
            ),
        ]
    )
    book, trades = rebuild(evs)
    (trade,) = trades.values()
    assert trade.status is TradeStatus.OPEN and trade.side is Side.SHORT
    assert trade.size == D(2) and trade.entry_price == D(100) and trade.fills[0].fee == D("0.2")
    assert [i.kind for i in book.issues] == ["opened-before-history", "opened-before-history"]


def test_open_position_is_an_open_trade() -> None:
    evs = events([fill_record(1, T0, side="long", base="0.500000000", quote="50.000000", fee="0.0175")])
    _, trades = rebuild(evs)
    (trade,) = trades.values()
    assert trade.status is TradeStatus.OPEN and trade.outcome is None
    assert trade.size == D("0.5") and trade.entry_price == D(100) and trade.opened_at is not None


def test_settle_pnl_cross_check_matches_and_reports_a_mismatch() -> None:
    evs = events(
        [
            fill_record(1, T0 + 10, side="long", base="1.000000000", quote="100.000000", fee="0.100000"),
            fill_record(
                2,
                T0 + 20,
                side="short",
                base="1.000000000",
                quote="110.000000",
                fee="0.100000",
                reduced_entry="100",
            ),
            fill_record(3, T0 + 40, side="long", base="1.000000000", quote="100.000000"),
            fill_record(4, T0 + 50, side="short", base="1.000000000", quote="90.000000", reduced_entry="100"),
        ],
        settles=[
            settle_record(T0, "3.000000"),  # before: starts the check (not comparable itself)
            settle_record(T0 + 30, "9.800000"),  # 10 − 0.2: matches
            settle_record(T0 + 60, "-9.000000"),  # the trade lost 10: mismatch
        ],
    )
    book, _ = rebuild(evs)
    assert (book.tally.matched, book.tally.mismatched, book.tally.not_comparable) == (1, 1, 1)
    assert [i.kind for i in book.issues] == ["settle-pnl-mismatch"]


def test_a_book_resumed_from_stored_open_trades_ends_like_one_run() -> None:
    evs = events(
        [
            fill_record(1, T0, side="long", base="1.000000000", quote="100.000000", fee="0.03"),
            fill_record(2, T0 + 10, side="long", base="1.000000000", quote="104.000000", fee="0.03"),
            fill_record(3, T0 + 20, side="short", base="3.000000000", quote="330.000000", fee="0.09"),
            fill_record(4, T0 + 30, side="long", base="1.000000000", quote="105.000000", fee="0.03"),
        ],
        [funding_record(T0 + 5, "-0.01", "1.000000000"), funding_record(T0 + 25, "0.02", "-1.000000000")],
    )
    _, whole = rebuild(evs)
    for cut in range(1, len(evs)):
        _, part = rebuild(evs[:cut])
        resumed = HistoryBook.resume(
            ACCT, ACCOUNT, [t for t in part.values() if t.status is TradeStatus.OPEN]
        )
        _, rest = rebuild(evs[cut:], resumed)
        assert {**part, **rest} == whole, cut
