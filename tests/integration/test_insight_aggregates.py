"""The stored insight aggregates always equal a rebuild from the trades, whatever the save history."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from driftloop.adapters.db import tables
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    FundingPayment,
    OrderLeg,
    OrderSide,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.outcome import compute_outcome
from driftloop.domain.trade import AccountRef, Trade
from driftloop.services.insights import compute_insights, get_insights, rebuild_insights, verify_insights

T0 = datetime(2025, 1, 6, 8, tzinfo=UTC)
AT = datetime(2025, 6, 1, tzinfo=UTC)


def live_trade(rng: random.Random, i: int, user: str = "alice", run_id: str = "") -> tuple[Trade, Trade]:
    """(the OPEN trade, the same trade CLOSED) with random market, side, prices and exit."""
    long = rng.random() < 0.6
    entry = Decimal(rng.randint(90_000, 110_000)) / 1000
    stop = entry * (Decimal("0.97") if long else Decimal("1.03"))
    target = entry * (Decimal("1.05") if long else Decimal("0.95"))
    ts = T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 90))
    analysis = Analysis(
        id=f"a{i}",
        timestamp=ts,
        symbol=rng.choice(["SOL-PERP", "BTC-PERP", "ETH-PERP"]),
        timeframe=rng.choice([Timeframe.M5, Timeframe.H1, Timeframe.H4]),
        prediction=Prediction.BULLISH if long else Prediction.BEARISH,
        confidence=Decimal(rng.randint(40, 95)),
        recommendation=Recommendation.BUY if long else Recommendation.SELL,
        stop_loss=stop,
        take_profit=target,
        size_usd=Decimal(rng.choice([100, 500, 1000])),
        leverage=Decimal(rng.choice([1, 2, 5, 10, 20])),
        analyst="test",
    )
    size = (analysis.size_usd / entry).quantize(Decimal("0.000000001"))
    side = Side.LONG if long else Side.SHORT
    buy, sell = (OrderSide.BUY, OrderSide.SELL) if long else (OrderSide.SELL, OrderSide.BUY)
    fee = Decimal("0.00035")
    entry_fill = Fill(
        f"{i}:E", ts, buy, entry, size, entry * size * fee, OrderLeg.ENTRY, reference_price=entry
    )
    account = AccountRef(user, "paper", rng.choice([0, 1]))
    learning: dict[str, Any] = {"policy": "learned", "decision": "TAKE"}
    if rng.random() < 0.5:
        learning["calibratedWinProb"] = Decimal(rng.randint(30, 80)) / 100
    opened = Trade(
        id=f"{user}-{run_id}-{i}",
        account=account,
        analysis=analysis,
        run_id=run_id,
        status=TradeStatus.OPEN,
        market_index=0,
        side=side,
        size=size,
        entry_price=entry,
        opened_at=ts,
        fills=[entry_fill],
        learning_data=learning,
    )
    leg, reason, price = rng.choice(
        [
            (OrderLeg.STOP_LOSS, ExitReason.STOP_LOSS, stop),
            (OrderLeg.TAKE_PROFIT, ExitReason.TAKE_PROFIT, target),
            (OrderLeg.CLOSE, ExitReason.TIME_LIMIT, entry * Decimal(rng.randint(980, 1020)) / 1000),
        ]
    )
    close_at = ts + timedelta(minutes=rng.randint(5, 60 * 24 * 3))
    exit_fill = Fill(
        f"{i}:X", close_at, sell, price, size, price * size * fee, leg, cause=reason, reference_price=price
    )
    funding = [
        FundingPayment(ts + timedelta(minutes=1), Decimal("0.00001"), Decimal(rng.randint(-300, 300)) / 1000)
    ]
    outcome = compute_outcome(
        analysis,
        [entry_fill, exit_fill],
        funding,
        closed_at=close_at,
        lowest=min(entry, price) * Decimal("0.999"),
        highest=max(entry, price) * Decimal("1.001"),
    )
    closed = dataclasses.replace(
        opened, status=TradeStatus.CLOSED, fills=[entry_fill, exit_fill], funding=funding, outcome=outcome
    )
    return opened, closed


def aggregate_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
            for t in (tables.insight_buckets, tables.insight_equity)
        }


def save(engine: Engine, *trades: Trade) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save_many(trades, AT)
        uow.commit()


def test_incremental_equals_rebuild_and_memory(engine: Engine) -> None:
    rng = random.Random(3)
    pairs = [live_trade(rng, i) for i in range(60)]
    # open them all in batches, then close in a random order (out of closing-time order too),
    # with re-saves, stale OPEN copies of closed trades and a batch that closes several at once
    for start in range(0, 60, 7):
        save(engine, *(opened for opened, _ in pairs[start : start + 7]))
    order = list(range(60))
    rng.shuffle(order)
    for n, index in enumerate(order[:40]):
        save(engine, pairs[index][1])
        if n % 5 == 0:
            save(engine, pairs[index][1])  # the same close again
            save(engine, pairs[index][0])  # a stale OPEN copy never reopens it
    save(engine, *(pairs[i][1] for i in order[40:55]))
    maintained = aggregate_rows(engine)
    with SqlUnitOfWork(engine) as uow:
        assert uow.insights.rebuild("alice") == 60
        uow.commit()
    assert aggregate_rows(engine) == maintained
    with SqlUnitOfWork(engine) as uow:
        trades = uow.trades.live_trades("alice")
    expected = compute_insights(trades)
    got = get_insights(SqlUnitOfWork(engine), "alice")
    assert got == {"userId": "alice", **expected}
    assert got["totalDriftTrades"] == 55 and got["openTrades"] == 5
    ok, _, _ = verify_insights(SqlUnitOfWork(engine), "alice")
    assert ok


def test_in_order_closes_extend_the_equity_curve(engine: Engine) -> None:
    rng = random.Random(5)
    pairs = sorted((live_trade(rng, i) for i in range(30)), key=lambda p: p[1].outcome.closed_at)  # type: ignore[union-attr]
    for opened, closed in pairs:
        save(engine, opened)
        save(engine, closed)
    maintained = aggregate_rows(engine)
    rebuild_insights(SqlUnitOfWork(engine), "alice")
    assert aggregate_rows(engine) == maintained
    pnl = [float(c.outcome.pnl_usd) for _, c in pairs]  # type: ignore[union-attr]
    equity, peak, worst = 0.0, 0.0, 0.0
    for p in pnl:
        equity += p
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    assert get_insights(SqlUnitOfWork(engine), "alice")["performance"]["maxDrawdownUsd"] == pytest_approx(
        worst
    )


def pytest_approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def test_replay_trades_and_other_users_stay_apart(engine: Engine) -> None:
    rng = random.Random(9)
    save(engine, *(live_trade(rng, i, run_id="run-1")[1] for i in range(10)))
    assert aggregate_rows(engine) == {"insight_buckets": [], "insight_equity": []}
    save(engine, *(live_trade(rng, i, user="bob")[1] for i in range(5)))
    save(engine, *(live_trade(rng, i, user="carol")[1] for i in range(3)))
    assert get_insights(SqlUnitOfWork(engine), "bob")["totalDriftTrades"] == 5
    assert get_insights(SqlUnitOfWork(engine), "carol")["totalDriftTrades"] == 3


AWKWARD_USERS = ['q"uote', "back\\slash", "{br,ace}", "NULL", " ü ñ ", "semi;colon'"]


def test_any_user_id_survives_the_bulk_bucket_writes(engine: Engine) -> None:
    """PostgreSQL writes the buckets as array literals: quotes, backslashes, braces, commas, NULL and
    non-ASCII in a user id must come back exactly."""
    rng = random.Random(11)
    pairs = {user: [live_trade(rng, i, user=user) for i in range(4)] for user in AWKWARD_USERS}
    save(engine, *(opened for trades in pairs.values() for opened, _ in trades))
    save(engine, *(closed for trades in pairs.values() for _, closed in trades[:3]))
    maintained = aggregate_rows(engine)
    assert {row[0] for row in maintained["insight_buckets"]} == set(AWKWARD_USERS)
    with SqlUnitOfWork(engine) as uow:
        uow.insights.rebuild(None)
        uow.commit()
    assert aggregate_rows(engine) == maintained
    for user in AWKWARD_USERS:
        with SqlUnitOfWork(engine) as uow:
            expected = compute_insights(uow.trades.live_trades(user))
        assert get_insights(SqlUnitOfWork(engine), user) == {"userId": user, **expected}


def test_a_failed_write_moves_nothing(engine: Engine) -> None:
    rng = random.Random(1)
    opened, closed = live_trade(rng, 0)
    save(engine, opened)
    before = aggregate_rows(engine)
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(closed, AT)
        # no commit: the unit rolls back
    assert aggregate_rows(engine) == before


def test_concurrent_writers_of_one_user_keep_the_aggregates_exact(engine: Engine, db_backend: str) -> None:
    """Two transactions writing the same user's trades at once (PostgreSQL): the second waits for the
    first, so its "before" is the first one's "after" and nothing is counted twice."""
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has a single writer")
    import threading
    import time

    rng = random.Random(8)
    pairs = [live_trade(rng, i) for i in range(6)]
    save(engine, pairs[0][0], pairs[1][0])
    started = threading.Event()

    def slow(trades: list[Trade]) -> None:
        with SqlUnitOfWork(engine) as uow:
            uow.trades.save_many(trades, AT)
            started.set()
            time.sleep(0.3)  # hold the user while the other writer arrives
            uow.commit()

    def fast(trades: list[Trade]) -> None:
        started.wait()
        save(engine, *trades)

    # the same new trade inserted twice, a close racing a re-save, and a close racing a new trade
    for first, second in (
        ([pairs[2][0]], [pairs[2][0]]),
        ([pairs[0][1]], [pairs[0][1], pairs[3][0]]),
        ([pairs[1][1]], [pairs[4][1]]),
    ):
        started.clear()
        threads = [
            threading.Thread(target=slow, args=(first,)),
            threading.Thread(target=fast, args=(second,)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    maintained = aggregate_rows(engine)
    rebuild_insights(SqlUnitOfWork(engine), "alice")
    assert aggregate_rows(engine) == maintained


def test_upgrading_a_database_with_trades_fills_the_aggregates(engine: Engine) -> None:
    from driftloop.adapters.db.engine import downgrade, migrate

    rng = random.Random(12)
    pairs = [live_trade(rng, i) for i in range(25)]
    save(engine, *(closed for _, closed in pairs[:20]), *(opened for opened, _ in pairs[20:]))
    maintained = aggregate_rows(engine)
    downgrade(engine, revision="0002")  # a database from before the aggregates existed
    migrate(engine)
    assert aggregate_rows(engine) == maintained
