"""Table rows → domain objects: whole `Trade`s with analysis, outcome, fills, funding and orders."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, ScalarSelect, Select, Table, select

from driftloop.adapters.db import keys
from driftloop.adapters.db.mapping import COMPLETE
from driftloop.adapters.db.tables import (
    accounts,
    ai_learning_data,
    analyses,
    fills,
    funding_payments,
    trade_orders,
    trades,
)
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
    TradeStatus,
)
from driftloop.domain.outcome import Outcome
from driftloop.domain.trade import AccountRef, OrderRecord, Trade

Mapping = Any  # a SQLAlchemy RowMapping
E = TypeVar("E", bound=StrEnum)


def _by_value(kind: type[E]) -> dict[str, E]:
    """Members of a string enum by value (a dict lookup is several times faster than `kind(value)`)."""
    return {str(member.value): member for member in kind}


_TIMEFRAME, _PREDICTION = _by_value(Timeframe), _by_value(Prediction)
_RECOMMENDATION = _by_value(Recommendation)
_SIDE, _ORDER_SIDE, _LEG = _by_value(Side), _by_value(OrderSide), _by_value(OrderLeg)
_EXIT_REASON, _STATUS = _by_value(ExitReason), _by_value(TradeStatus)

# Only the columns the domain objects need: copies of analysis values, derived values and
# bookkeeping are not read back.
_TRADE_UNREAD = frozenset(
    ("account_id", "analysis_pk", "symbol", "stop_loss", "take_profit", "target_price", "slippage_bps")
) | {"recorded_at", "updated_at"}
_TRADE_COLUMNS = [c for c in trades.c if c.name not in _TRADE_UNREAD]
_ANALYSIS_COLUMNS = [c for c in analyses.c if c.name not in {"id", "user_id", "run_id", "recorded_at"}]
_LEARNING_COLUMNS = ["status", "direction_correct", "price_accuracy", "accuracy_score"]
_LEARNING_COLUMNS += ["stated_probability", "brier"]
_FILL_COLUMNS = [c for c in fills.c if c.name not in {"id", "venue", "account_id", "recorded_at"}]


@cache
def trade_select() -> Select[Any]:
    """Trades joined with their account, analysis and learning row: the columns `to_trade` reads
    (prefixed acc_/a_/ld_). Built once (statements are immutable): building it cost as much as
    running a one-row lookup."""
    return (
        select(
            *_TRADE_COLUMNS,
            *(accounts.c[name].label(f"acc_{name}") for name in ("user_id", "venue", "sub_account")),
            *(c.label(f"a_{c.name}") for c in _ANALYSIS_COLUMNS),
            *(ai_learning_data.c[name].label(f"ld_{name}") for name in _LEARNING_COLUMNS),
        )
        .join(accounts, accounts.c.id == trades.c.account_id)
        .join(analyses, analyses.c.id == trades.c.analysis_pk)
        .outerjoin(ai_learning_data, ai_learning_data.c.trade_id == trades.c.id)
    )


def load_trades(connection: Connection, where: ColumnElement[bool]) -> list[Trade]:
    """Every trade matching `where` (over `trades` columns), ordered by analysis time then id.

    Four queries whatever the number of trades: the joined trades, then their fills,
    funding payments and orders (each selected by the same `where`).
    """
    with _gc_paused():
        return _load_trades(connection, where)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a bulk load allocates several tracked objects per row
    that all survive, which the collector would rescan over and over (a quarter of the time of
    loading 10,000 trades). Reference counting still frees everything meanwhile; collection
    resumes at the end if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


FEW_TRADES = 1_000  # up to this many, a load reads the children by the ids it found


def _load_trades(connection: Connection, where: ColumnElement[bool]) -> list[Trade]:
    order = (analyses.c.timestamp, analyses.c.analysis_id, trades.c.id)
    rows = connection.execute(trade_select().where(where).order_by(*order)).mappings().all()
    if not rows:
        return []
    # the children of a few trades by their ids (index lookups); of many, by the same `where` again
    # (one statement however many: a list of ids that long would cost more to send and plan)
    ids: ScalarSelect[Any] | list[str] = (
        [row["id"] for row in rows]
        if len(rows) <= FEW_TRADES
        else select(trades.c.id).where(where).scalar_subquery()
    )
    fills_by = _children(connection, fills, _FILL_COLUMNS, ids, fills.c.ts)
    funding_by = _children(connection, funding_payments, list(funding_payments.c), ids, funding_payments.c.ts)
    orders_by = _children(connection, trade_orders, list(trade_orders.c), ids)
    accounts_seen: dict[tuple[str, str, int], AccountRef] = {}
    found = []
    for row in rows:
        trade_id = row["id"]
        natural = (row["acc_user_id"], row["acc_venue"], row["acc_sub_account"])
        account = accounts_seen.get(natural) or accounts_seen.setdefault(natural, AccountRef(*natural))
        fill_list = [to_fill(f) for f in fills_by.get(trade_id, ())]
        funding = [to_funding(p) for p in funding_by.get(trade_id, ())]
        orders = [to_order(o) for o in orders_by.get(trade_id, ())]
        found.append(to_trade(row, fill_list, funding, orders, account))
    return found


def _children(
    connection: Connection, table: Table, columns: list[Any], ids: ScalarSelect[Any] | list[str], *order: Any
) -> dict[str, list[Mapping]]:
    """`columns` of the rows of a child table whose `trade_id` is in `ids`, by trade, in `seq` order."""
    query = select(*columns).where(table.c.trade_id.in_(ids))
    rows = connection.execute(query.order_by(table.c.trade_id, table.c.seq, *order)).mappings().all()
    grouped: dict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        grouped[row["trade_id"]].append(row)
    return grouped


def to_analysis(r: Mapping) -> Analysis:
    """An `Analysis` from a row of `trade_select` (a_ columns)."""
    return Analysis(
        id=r["a_analysis_id"],
        timestamp=r["a_timestamp"],
        symbol=r["a_symbol"],
        timeframe=_TIMEFRAME[r["a_timeframe"]],
        prediction=_PREDICTION[r["a_prediction"]],
        confidence=r["a_confidence"],
        recommendation=_RECOMMENDATION[r["a_recommendation"]],
        stop_loss=r["a_stop_loss"],
        take_profit=r["a_take_profit"],
        size_usd=r["a_size_usd"],
        entry_price=r["a_entry_price"],
        target_price=r["a_target_price"],
        leverage=r["a_leverage"],
        max_hold_minutes=r["a_max_hold_minutes"],
        analyst=r["a_analyst"],
        reasoning=r["a_reasoning"],
        raw=r["a_raw"],
    )


def to_outcome(r: Mapping) -> Outcome | None:
    """The trade's `Outcome`, when both the trade's outcome columns and a COMPLETE learning row exist."""
    if r["outcome"] is None or r["ld_status"] != COMPLETE:
        return None
    return Outcome(
        side=Side(r["side"]),
        entry_price=r["entry_price"],
        exit_price=r["exit_price"],
        size=r["size"],
        leverage=r["leverage"],
        entry_notional=r["entry_notional"],
        price_pnl=r["price_pnl"],
        fees_usd=r["fees_usd"],
        funding_usd=r["funding_usd"],
        pnl_usd=r["pnl_usd"],
        pnl_percent=r["pnl_percent"],
        roe_percent=r["roe_percent"],
        actual_rr=r["actual_rr"],
        outcome=OutcomeClass(r["outcome"]),
        exit_reason=ExitReason(r["exit_reason"]),
        entry_slippage_bps=r["entry_slippage_bps"],
        exit_slippage_bps=r["exit_slippage_bps"],
        mae=r["mae"],
        mfe=r["mfe"],
        closed_at=r["closed_at"],
        direction_correct=bool(r["ld_direction_correct"]),
        price_accuracy=r["ld_price_accuracy"],
        accuracy_score=r["ld_accuracy_score"],
        stated_probability=r["ld_stated_probability"],
        brier=r["ld_brier"],
    )


def to_fill(r: Mapping) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        ts=r["ts"],
        side=_ORDER_SIDE[r["side"]],
        price=r["price"],
        size=r["size"],
        fee=r["fee"],
        leg=_LEG[r["leg"]],
        cause=None if r["cause"] is None else _EXIT_REASON[r["cause"]],
        reference_price=r["reference_price"],
        role=r["role"],
        market_index=r["market_index"],
        order_id=r["order_id"],
    )


def to_funding(r: Mapping) -> FundingPayment:
    payment_id = keys.funding_id_from_key(r["payment_id"], r["ts"])
    return FundingPayment(ts=r["ts"], rate=r["rate"], amount=r["amount"], payment_id=payment_id)


def to_order(r: Mapping) -> OrderRecord:
    return OrderRecord(
        leg=_LEG[r["leg"]],
        venue_order_id=r["venue_order_id"],
        user_order_id=r["user_order_id"],
        trigger_price=r["trigger_price"],
        tx_id=r["tx_id"],
        status=r["status"],
    )


def to_trade(
    r: Mapping,
    fill_list: list[Fill],
    funding: list[FundingPayment],
    orders: list[OrderRecord],
    account: AccountRef | None = None,
) -> Trade:
    """A whole `Trade` from its joined row and its children (`account` defaults to the row's)."""
    if account is None:
        account = AccountRef(r["acc_user_id"], r["acc_venue"], r["acc_sub_account"])
    return Trade(
        id=r["id"],
        account=account,
        analysis=to_analysis(r),
        run_id=r["run_id"],
        status=_STATUS[r["status"]],
        market_index=r["market_index"],
        side=None if r["side"] is None else _SIDE[r["side"]],
        reason=r["reason"],
        size=r["size"],
        entry_price=r["entry_price"],
        opened_at=r["opened_at"],
        drift_tx_id=r["drift_tx_id"],
        outcome=to_outcome(r),
        fills=fill_list,
        funding=funding,
        orders=orders,
        learning_data=r["learning_data"],
    )
