"""`/api/drift/trade` on the paper venue until the outcome is captured; trades, insights, calibration,
idempotency (50 parallel requests, one key, one trade) — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from conftest import Api, analysis, bar
from driftloop.adapters.db import tables

pytestmark = pytest.mark.anyio


def count(api: Api, table: object) -> int:
    with api.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


async def test_trade_through_the_api_until_its_outcome_is_captured(api: Api) -> None:
    placed = await api.post("/api/drift/trade", analysis())
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert body["success"] is True and body["status"] == "OPEN" and body["monitoring"] is True
    trade = body["trade"]
    assert trade["driftTxId"] and trade["analysisId"] == "an-1" and trade["userId"] == "drift-user"
    assert {o["leg"] for o in trade["orders"]} == {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}
    assert all(o["orderId"] and o["userOrderId"] for o in trade["orders"])
    assert body["decision"]["policy"] == "raw" and body["decision"]["action"] == "TAKE"

    # the entry fills at the next open; the target (105) is hit two bars later
    n = api.next_bar
    await api.feed(bar(n, "100", "101", "99.5", "100.5"), bar(n + 1, "100.5", "106", "100", "105.5"))
    captured: list[str] = []
    for _ in range(50):  # the monitor reacts to the venue's push; check_trades is the explicit path
        checked = (
            await api.post("/api/drift/feedback", {"action": "check_trades", "userId": "drift-user"})
        ).json()
        captured += checked["outcomes"]
        detail = (await api.get(f"/api/trades/{trade['tradeId']}")).json()
        if detail["trade"]["status"] == "CLOSED":
            break
        await asyncio.sleep(0.01)
    closed = detail["trade"]
    assert (
        closed["status"] == "CLOSED" and closed["exitReason"] == "TAKE_PROFIT" and closed["outcome"] == "WIN"
    )
    assert closed["entryPrice"] == 100 and closed["exitPrice"] == 105
    assert closed["pnlUsd"] == pytest.approx(5 - 0.1 - 0.105)  # 1 SOL, 10 bps taker fee on both fills
    assert [f["leg"] for f in detail["fills"]] == ["ENTRY", "TAKE_PROFIT"]
    assert detail["analysis"]["stopLoss"] == 95 and detail["analysis"]["confidence"] == 70
    learning = detail["learning"]
    assert learning["status"] == "COMPLETE" and learning["outcome"] == "WIN"
    assert learning["statedProbability"] == 0.7 and learning["brier"] == pytest.approx(0.09)
    assert detail["decision"]["policy"] == "raw"

    status = (await api.get("/api/drift/feedback", params={"userId": "drift-user"})).json()["users"][0]
    assert status["outcomesCaptured"] == 1 and status["openTrades"] == 0
    insights = (await api.get("/api/insights", params={"userId": "drift-user"})).json()["insights"]
    assert insights["totalDriftTrades"] == 1 and insights["winRate"] == 100.0
    calibration = (await api.get("/api/learning/calibration", params={"userId": "drift-user"})).json()
    assert calibration["calibrated"] is True and calibration["trades"] == 1
    assert calibration["brier"] == pytest.approx(0.09)
    learned = calibration["learned"]
    assert learned["trades"] == 1 and learned["inSample"]["brierStated"] == pytest.approx(0.09)
    assert learned["recorded"]["calibratedTrades"] == 0  # the raw policy records no calibrated probability
    assert insights["performance"]["fees"]["totalUsd"] == pytest.approx(0.205)
    assert insights["breakdowns"]["bySymbol"]["SOL-PERP"]["count"] == 1
    context = (
        await api.get(
            "/api/learning/context", params={"userId": "drift-user", "symbol": "SOL", "timeframe": "5m"}
        )
    ).json()
    assert (
        context["context"]["symbol"] == "SOL-PERP" and context["context"]["track"]["overall"]["trades"] == 1
    )
    assert "1 closed trades, won 1" in context["text"]
    bad = await api.get(
        "/api/learning/context", params={"userId": "drift-user", "symbol": "SOL", "timeframe": "2h"}
    )
    assert bad.status_code == 422 and "timeframe" in bad.json()["detail"]
    by_side = (
        await api.get("/api/learning/contexts", params={"userId": "drift-user", "level": "side"})
    ).json()
    [only] = by_side["contexts"]
    assert by_side["trades"] == 1 and only["count"] == 1 and only["wins"] == 1 and "LONG" in only["context"]
    bad = await api.get("/api/learning/contexts", params={"userId": "drift-user", "level": "planet"})
    assert bad.status_code == 422 and "level" in bad.json()["detail"]
    [filled] = [b for b in calibration["bins"] if b["count"]]
    assert (
        filled["lower"] == 0.7 and filled["observedWinRate"] == 1.0 and filled["meanStatedProbability"] == 0.7
    )
    metrics = (await api.client.get("/metrics")).text
    assert "driftloop_outcomes_captured_total 1.0" in metrics


async def test_list_filters_and_cursor_pagination(api: Api) -> None:
    for i in range(7):
        user = "alice" if i % 2 == 0 else "bob"
        symbol = "SOL-PERP" if i < 5 else "BTC-PERP"  # BTC has no market data: SKIPPED
        body = analysis(userId=user, id=f"an-{i}", symbol=symbol, timestamp=f"2025-01-01T00:0{i}:00Z")
        if i == 4:
            body["recommendation"] = "HOLD"
        assert (await api.post("/api/drift/trade", body)).status_code == 200
    every = (await api.get("/api/trades", params={"limit": 200})).json()
    assert every["count"] == 7 and every["nextCursor"] is None
    assert [t["analysisId"] for t in every["trades"]] == [f"an-{i}" for i in reversed(range(7))]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/trades", params=params)).json()
        seen += [t["analysisId"] for t in page["trades"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"an-{i}" for i in reversed(range(7))]

    async def ids(**params: object) -> list[str]:
        response = await api.get("/api/trades", params=params)
        assert response.status_code == 200, response.text
        return [t["analysisId"] for t in response.json()["trades"]]

    assert await ids(userId="alice") == ["an-6", "an-4", "an-2", "an-0"]
    assert await ids(symbol="btc") == ["an-6", "an-5"]
    assert await ids(status="SKIPPED") == ["an-6", "an-5", "an-4", "an-3", "an-2"]  # no data, HOLD, netting
    assert await ids(status="OPEN") == ["an-1", "an-0"]
    assert await ids(status="OPEN", userId="bob") == ["an-1"]
    assert await ids(**{"from": "2025-01-01T00:02:00Z", "to": "2025-01-01T00:04:00"}) == ["an-3", "an-2"]
    assert await ids(outcome="WIN") == []
    bad = await api.get("/api/trades", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_skipped_analyses_answer_200_with_the_decision_and_no_trade(api: Api) -> None:
    hold = await api.post("/api/drift/trade", analysis(recommendation="HOLD"))
    assert hold.status_code == 200
    assert hold.json()["status"] == "SKIPPED" and hold.json()["trade"] is None
    assert hold.json()["decision"]["action"] == "SKIP" and "HOLD" in hold.json()["decision"]["reason"]
    first = await api.post("/api/drift/trade", analysis(id="an-2"))
    netted = await api.post("/api/drift/trade", analysis(id="an-3"))
    assert first.json()["status"] == "OPEN" and netted.json()["status"] == "SKIPPED"
    assert "nets positions" in netted.json()["reason"]
    other_account = await api.post("/api/drift/trade", analysis(id="an-4", subAccount=1))
    assert other_account.json()["status"] == "OPEN" and other_account.json()["trade"]["subAccount"] == 1


async def test_same_analysis_id_returns_the_same_trade_and_a_changed_one_conflicts(api: Api) -> None:
    first = (await api.post("/api/drift/trade", analysis())).json()
    again = (await api.post("/api/drift/trade", analysis())).json()
    assert again["tradeId"] == first["tradeId"] and again["replayed"] is True
    changed = await api.post("/api/drift/trade", analysis(stopLoss=94))
    assert changed.status_code == 409 and changed.json()["errors"][0]["field"] == "id"
    assert count(api, tables.trades) == 1


async def test_idempotency_key_replays_and_refuses_another_body(api: Api) -> None:
    key = {"Idempotency-Key": "key-1"}
    first = await api.post("/api/drift/trade", analysis(), headers=key)
    second = await api.post("/api/drift/trade", analysis(), headers=key)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    other = await api.post("/api/drift/trade", analysis(id="an-9"), headers=key)
    assert other.status_code == 422 and "different request body" in other.json()["detail"]
    bad_key = await api.post("/api/drift/trade", analysis(id="an-9"), headers={"Idempotency-Key": "a b"})
    assert bad_key.status_code == 400
    assert count(api, tables.trades) == 1


async def test_learned_policy_decides_and_records_its_decision(api: Api) -> None:
    response = await api.post("/api/drift/trade", analysis(policy="learned"))
    assert response.status_code == 200, response.text
    assert "learned" in json.dumps(response.json())
    assert count(api, tables.trades) == 1


async def test_fifty_parallel_identical_requests_with_one_key_make_one_trade(api: Api) -> None:
    headers = {"Idempotency-Key": "parallel-1"}
    responses = await asyncio.gather(
        *(api.post("/api/drift/trade", analysis(), headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {200}
    bodies = [r.json() for r in responses]
    assert all(b == {**bodies[0], "replayed": b["replayed"]} for b in bodies)
    assert len({b["tradeId"] for b in bodies}) == 1
    assert count(api, tables.trades) == 1 and count(api, tables.analyses) == 1
    assert count(api, tables.trade_orders) == 3
    # and without a key: the analysis id alone keeps it to one trade
    plain = await asyncio.gather(
        *(api.post("/api/drift/trade", analysis(id="an-x", subAccount=2)) for _ in range(20))
    )
    assert len({r.json()["tradeId"] for r in plain}) == 1 and count(api, tables.trades) == 2


async def test_a_stored_analysis_is_answered_as_stored_after_the_price_moved(api: Api) -> None:
    """The sides are checked for a new analysis only: once the price crossed the stop, resending the
    stored analysis returns its trade, while a new one with that stop is refused and stores nothing."""
    first = (await api.post("/api/drift/trade", analysis(id="an-1", stopLoss=99.5))).json()
    await api.flat_bars(1, price="99")  # below the stop now
    again = await api.post("/api/drift/trade", analysis(id="an-1", stopLoss=99.5))
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["tradeId"] == first["tradeId"]
    fresh = await api.post("/api/drift/trade", analysis(id="an-2", stopLoss=99.5, subAccount=1))
    assert fresh.status_code == 422 and fresh.json()["errors"][0]["field"] == "stopLoss"
    assert count(api, tables.trades) == 1
