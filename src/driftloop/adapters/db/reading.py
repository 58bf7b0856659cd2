"""Table rows → domain objects: whole `Trade`s with analysis, outcome, fills, funding and orders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select

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


def trade_select() -> Select[Any]:
    """Trades joined with their account, analysis and learning row (columns prefixed a_/acc_/ld_)."""
    return (
        select(
            *trades.c,
            *(c.label(f"acc_{c.name}") for c in accounts.c),
            *(c.label(f"a_{c.name}") for c in analyses.c),
            *(c.label(f"ld_{c.name}") for c in ai_learning_data.c),
        )
        .join(accounts, accounts.c.id == trades.c.account_id)
        .join(analyses, analyses.c.id == trades.c.analysis_pk)
        .outerjoin(ai_learning_data, ai_learning_data.c.trade_id == trades.c.id)
    )


def load_trades(connection: Connection, where: ColumnElement[bool]) -> list[Trade]:
    """Every trade matching `where` (over `trades` columns), ordered by analysis time then id."""
    rows = (
        connection.execute(
            trade_select().where(where).order_by(analyses.c.timestamp, analyses.c.analysis_id, trades.c.id)
        )
        .mappings()
        .all()
    )
    if not rows:
        return []
    ids = select(trades.c.id).where(where).scalar_subquery()
    fills_by = _group(
        connection.execute(
            select(fills).where(fills.c.trade_id.in_(ids)).order_by(fills.c.trade_id, fills.c.seq, fills.c.ts)
        ).mappings()
    )
    funding_by = _group(
        connection.execute(
            select(funding_payments)
            .where(funding_payments.c.trade_id.in_(ids))
            .order_by(funding_payments.c.trade_id, funding_payments.c.seq, funding_payments.c.ts)
        ).mappings()
    )
    orders_by = _group(
        connection.execute(
            select(trade_orders)
            .where(trade_orders.c.trade_id.in_(ids))
            .order_by(trade_orders.c.trade_id, trade_orders.c.seq)
        ).mappings()
    )
    found = []
    for row in rows:
        trade_id = row["id"]
        found.append(to_trade(row, fills_by[trade_id], funding_by[trade_id], orders_by[trade_id]))
    return found


def _group(rows: Iterable[Mapping]) -> defaultdict[str, list[Mapping]]:
    grouped: defaultdict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        grouped[row["trade_id"]].append(row)
    return grouped


def to_analysis(r: Mapping) -> Analysis:
    """An `Analysis` from a row of `trade_select` (a_ columns)."""
    return Analysis(
        id=r["a_analysis_id"],
        timestamp=r["a_timestamp"],
        symbol=r["a_symbol"],
        timeframe=Timeframe(r["a_timeframe"]),
        prediction=Prediction(r["a_prediction"]),
        confidence=r["a_confidence"],
        recommendation=Recommendation(r["a_recommendation"]),
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
        side=OrderSide(r["side"]),
        price=r["price"],
        size=r["size"],
        fee=r["fee"],
        leg=OrderLeg(r["leg"]),
        cause=None if r["cause"] is None else ExitReason(r["cause"]),
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
        leg=OrderLeg(r["leg"]),
        venue_order_id=r["venue_order_id"],
        user_order_id=r["user_order_id"],
        trigger_price=r["trigger_price"],
        tx_id=r["tx_id"],
        status=r["status"],
    )


def to_trade(
    r: Mapping, fill_rows: list[Mapping], funding_rows: list[Mapping], order_rows: list[Mapping]
) -> Trade:
    """A whole `Trade` from its joined row and its child rows."""
    return Trade(
        id=r["id"],
        account=AccountRef(user_id=r["acc_user_id"], venue=r["acc_venue"], sub_account=r["acc_sub_account"]),
        analysis=to_analysis(r),
        run_id=r["run_id"],
        status=TradeStatus(r["status"]),
        market_index=r["market_index"],
        side=None if r["side"] is None else Side(r["side"]),
        reason=r["reason"],
        size=r["size"],
        entry_price=r["entry_price"],
        opened_at=r["opened_at"],
        drift_tx_id=r["drift_tx_id"],
        outcome=to_outcome(r),
        fills=[to_fill(f) for f in fill_rows],
        funding=[to_funding(p) for p in funding_rows],
        orders=[to_order(o) for o in order_rows],
        learning_data=r["learning_data"],
    )
