"""The seed's four curl flows, the status endpoint, auth, health and metrics (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from conftest import AUTH, Api, analysis

pytestmark = pytest.mark.anyio
USER = "drift-user"


async def test_the_four_seed_curl_flows(api: Api) -> None:
    started = await api.post("/api/drift/feedback", {"action": "start_monitoring", "userId": USER})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["success"] is True and body["action"] == "start_monitoring" and body["userId"] == USER
    assert body["status"]["running"] is True and body["status"]["intervalSeconds"] == 30

    status = await api.get("/api/drift/feedback")
    assert status.status_code == 200
    assert status.json()["success"] is True
    assert [u["userId"] for u in status.json()["users"]] == [USER]
    assert status.json()["users"][0]["running"] is True

    insights = await api.post("/api/drift/feedback", {"action": "get_insights", "userId": USER})
    assert insights.status_code == 200, insights.text
    data = insights.json()["insights"]
    assert data["userId"] == USER and data["totalDriftTrades"] == 0 and data["winRate"] is None
    assert {"driftSpecificInsights", "aiAccuracy", "bestPerformingTimeframe"} <= set(data)

    checked = await api.post("/api/drift/feedback", {"action": "check_trades", "userId": USER})
    assert checked.status_code == 200, checked.text
    result = checked.json()
    assert result["success"] is True
    assert result["tradesChecked"] == 0 and result["outcomesCaptured"] == 0 and result["outcomes"] == []

    stopped = await api.post("/api/drift/feedback", {"action": "stop_monitoring", "userId": USER})
    assert stopped.status_code == 200 and stopped.json()["status"]["running"] is False
    one = await api.get("/api/drift/feedback", params={"userId": USER})
    assert one.json()["count"] == 1 and one.json()["running"] == 0


async def test_interval_and_a_trade_activates_monitoring(api: Api) -> None:
    response = await api.post(
        "/api/drift/feedback", {"action": "start_monitoring", "userId": "u2", "intervalSeconds": 5}
    )
    assert response.json()["status"]["intervalSeconds"] == 5
    placed = await api.post("/api/drift/trade", analysis(userId="u3"))
    assert placed.json()["status"] == "OPEN" and placed.json()["monitoring"] is True
    users = {u["userId"]: u for u in (await api.get("/api/drift/feedback")).json()["users"]}
    assert users["u3"]["running"] is True and users["u3"]["openTrades"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/drift/feedback", {"action": "stop_monitoring", "userId": "nobody"}),
        ("POST", "/api/drift/feedback", {"action": "check_trades", "userId": "nobody"}),
        ("POST", "/api/drift/feedback", {"action": "get_insights", "userId": "nobody"}),
        ("GET", "/api/drift/feedback?userId=nobody", None),
        ("GET", "/api/insights?userId=nobody", None),
        ("GET", "/api/learning/calibration?userId=nobody", None),
        ("GET", "/api/learning/context?userId=nobody&symbol=SOL-PERP&timeframe=1h", None),
        ("GET", "/api/learning/contexts?userId=nobody", None),
        ("GET", "/api/trades?userId=nobody", None),
        ("GET", "/api/trades/trd_nothing", None),
    ],
)
async def test_unknown_user_or_trade_is_404(api: Api, method: str, path: str, body: object) -> None:
    response = await api.client.request(method, path, json=body, headers=AUTH)
    assert response.status_code == 404, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 404 and problem["success"] is False
    assert "nobody" in problem["error"] or "trd_nothing" in problem["error"]
    assert (await api.get("/api/drift/feedback")).json()["count"] == 0  # nobody was created


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/drift/feedback"),
        ("GET", "/api/drift/feedback"),
        ("POST", "/api/drift/trade"),
        ("GET", "/api/trades"),
        ("GET", "/api/trades/x"),
        ("GET", "/api/insights?userId=drift-user"),
        ("GET", "/api/learning/calibration?userId=drift-user"),
        ("GET", "/api/learning/context?userId=drift-user&symbol=SOL&timeframe=1h"),
        ("GET", "/api/learning/contexts?userId=drift-user"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_no_or_wrong_token_is_401(api: Api, method: str, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    body = {"action": "start_monitoring", "userId": "intruder"}
    response = await api.client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"].endswith("unauthorized") and response.json()["success"] is False
    assert (await api.get("/api/drift/feedback")).json()["count"] == 0


async def test_health_and_metrics_are_open(api: Api) -> None:
    health = await api.client.get("/api/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "venue": "paper", "monitor": True,
                             "version": health.json()["version"]}  # fmt: skip
    await api.post("/api/drift/feedback", {"action": "start_monitoring", "userId": USER})
    await api.post("/api/drift/feedback", {"action": "check_trades", "userId": USER})
    await api.post("/api/drift/feedback", {"action": "nope", "userId": USER})
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in (
        "driftloop_monitor_cycles_total",
        "driftloop_fills_ingested_total",
        "driftloop_outcomes_captured_total",
        "driftloop_errors_total",
        "driftloop_monitor_cycle_seconds_bucket",
        "driftloop_http_request_duration_seconds_bucket",
    ):
        assert name in text, name
    assert 'route="/api/drift/feedback",status="400"' in text
    assert USER not in text  # no user ids in labels


async def test_openapi_documents_every_endpoint_with_examples(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    operations = [(p, m, op) for p, item in schema["paths"].items() for m, op in item.items()]
    assert {(p, m) for p, m, _ in operations} == {
        ("/api/drift/feedback", "post"), ("/api/drift/feedback", "get"), ("/api/drift/trade", "post"),
        ("/api/trades", "get"), ("/api/trades/{trade_id}", "get"), ("/api/insights", "get"),
        ("/api/learning/calibration", "get"), ("/api/learning/context", "get"),
        ("/api/learning/contexts", "get"), ("/api/health", "get"), ("/metrics", "get"),
    }  # fmt: skip
    for path, method, op in operations:
        ok = op["responses"]["200"]["content"]
        assert any("example" in c or "examples" in c for c in ok.values()), (path, method)
        if "requestBody" in op:
            assert op["requestBody"]["content"]["application/json"]["examples"], path
        if path not in ("/api/health", "/metrics"):
            assert op["security"] == [{"HTTPBearer": []}]
            assert "example" in op["responses"]["401"]["content"]["application/problem+json"]


async def test_status_is_fresh_after_a_background_cycle(api: Api) -> None:
    placed = await api.post("/api/drift/trade", analysis())
    assert placed.json()["status"] == "OPEN"
    for _ in range(500):  # the trade started the user's monitor: wait for its first cycle
        before = (await api.get("/api/drift/feedback")).json()["users"][0]
        if before["cycles"] >= 1:
            break
        await asyncio.sleep(0.01)
    assert before["cycles"] >= 1
    await api.flat_bars(1)  # the entry fills; the venue pushes; the monitor's cycle ingests it
    for _ in range(500):  # up to ~5 s on a loaded machine
        after = (await api.get("/api/drift/feedback")).json()["users"][0]
        if after["fillsIngested"] > before["fillsIngested"]:
            break
        await asyncio.sleep(0.01)
    assert after["fillsIngested"] == before["fillsIngested"] + 1 and after["cycles"] > before["cycles"]
