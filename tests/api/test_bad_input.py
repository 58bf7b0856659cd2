"""Bad input gets a 4xx with a precise reason (the field, camelCase) and changes nothing in the database;
no traceback, key or internal path in any response. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import AUTH, TOKEN, Api, analysis
from loop_harness import snapshot

pytestmark = pytest.mark.anyio
JSON = {**AUTH, "Content-Type": "application/json"}
FEEDBACK, TRADE = "/api/drift/feedback", "/api/drift/trade"
NESTED = "[" * 40 + "]" * 40
DEEP = ".".join(["raw"] + ["0"] * 32)


def with_raw(text: str) -> bytes:
    """A valid trade body with `"raw": <text>` spliced in as raw JSON."""
    return json.dumps(analysis()).replace('"reasoning"', f'"raw": {text}, "reasoning"').encode()


# (case, path, raw body, status, the field named in `errors` or None)
CASES: list[tuple[str, str, bytes, int, str | None]] = [
    ("malformed json", FEEDBACK, b'{"action": "start_monitoring", "userId": ', 400, None),
    ("malformed json trade", TRADE, b"{'id': 1}", 400, None),
    ("empty body", FEEDBACK, b"", 400, None),
    ("not an object", FEEDBACK, b"[]", 422, "(body)"),
    ("unknown action", FEEDBACK, b'{"action": "sell_everything", "userId": "u"}', 400, "action"),
    ("action of wrong type", FEEDBACK, b'{"action": 7, "userId": "u"}', 400, "action"),
    ("missing userId", FEEDBACK, b'{"action": "start_monitoring"}', 422, "userId"),
    ("userId of wrong type", FEEDBACK, b'{"action": "start_monitoring", "userId": 12}', 422, "userId"),
    ("empty userId", FEEDBACK, b'{"action": "start_monitoring", "userId": "  "}', 422, "userId"),
    ("NUL in userId", FEEDBACK, b'{"action": "start_monitoring", "userId": "a\\u0000b"}', 422, "userId"),
    ("long userId", FEEDBACK, json.dumps({"action": "start_monitoring", "userId": "u" * 201}).encode(), 422,
     "userId"),
    ("interval of wrong type", FEEDBACK,
     b'{"action": "start_monitoring", "userId": "u", "intervalSeconds": "soon"}', 422, "intervalSeconds"),
    ("negative interval", FEEDBACK,
     b'{"action": "start_monitoring", "userId": "u", "intervalSeconds": -1}', 422, "intervalSeconds"),
]  # fmt: skip


def trade_case(
    name: str, status: int, field: str | None, **changes: Any
) -> tuple[str, str, bytes, int, str | None]:
    return (name, TRADE, json.dumps(analysis(**changes)).encode(), status, field)


CASES += [
    trade_case("confidence 101", 422, "confidence", confidence=101),
    trade_case("confidence of wrong type", 422, "confidence", confidence="very"),
    trade_case("leverage 0", 422, "leverage", leverage=0),
    trade_case("leverage 1000", 422, "leverage", leverage=1000),
    trade_case("stop above the entry of a long", 422, "stopLoss", entryPrice=100, stopLoss=101),
    trade_case("target below the entry of a long", 422, "takeProfit", entryPrice=100, takeProfit=99),
    trade_case("stop above the current price of a long", 422, "stopLoss", stopLoss=100.5),
    trade_case("stop below the price of a short", 422, "stopLoss", recommendation="SELL", stopLoss=95,
               takeProfit=90),
    trade_case("unknown symbol", 422, "symbol", symbol="DOGWIFHAT-SPOT"),
    trade_case("unknown timeframe", 422, "timeframe", timeframe="7m"),
    trade_case("unknown recommendation", 422, "recommendation", recommendation="YOLO"),
    trade_case("missing id", 422, "id", id=None),
    trade_case("missing stopLoss", 422, "stopLoss", stopLoss=None),
    trade_case("garbage timestamp", 422, "timestamp", timestamp="yesterday"),
    trade_case("timestamp far away", 422, "timestamp", timestamp=10**18),
    trade_case("timestamp year 9999", 422, "timestamp", timestamp="9999-01-01T00:00:00Z"),
    trade_case("timestamp overflowing UTC", 422, "timestamp", timestamp="0001-01-01T00:00:00+05:00"),
    trade_case("negative size", 422, "sizeUsd", sizeUsd=-5),
    trade_case("huge size", 422, "sizeUsd", sizeUsd=1e15),
    trade_case("huge price", 422, "takeProfit", takeProfit=1e30),
    trade_case("huge maxHoldMinutes", 422, "maxHoldMinutes", maxHoldMinutes=10**12),
    trade_case("NUL in reasoning", 422, "reasoning", reasoning="a\x00b"),
    trade_case("NUL deep in raw", 422, "raw.a.0", raw={"a": ["\x00"]}),
    trade_case("unknown policy", 422, "policy", policy="magic"),
    trade_case("negative subAccount", 422, "subAccount", subAccount=-1),
    trade_case("userId of wrong type", 422, "userId", userId=["x"]),
    ("NaN in raw", TRADE, with_raw("NaN"), 422, "raw"),
    ("unpaired surrogate", TRADE, json.dumps(analysis(analyst="X")).replace('"X"', '"\\ud800"').encode(), 422,
     "analyst"),
    ("deeply nested raw", TRADE, with_raw(NESTED), 422, DEEP),
]  # fmt: skip


def assert_clean(text: str) -> None:
    for leak in ("Traceback", 'File "', "/work", "site-packages", "sqlalchemy", "psycopg", TOKEN):
        assert leak not in text, leak


@pytest.mark.parametrize(("case", "path", "raw", "status", "field"), CASES, ids=[c[0] for c in CASES])
async def test_bad_request_is_refused_and_changes_nothing(
    api: Api, case: str, path: str, raw: bytes, status: int, field: str | None
) -> None:
    await api.post(TRADE, analysis(userId="existing", id="an-0"))  # something already stored
    await api.state.loop.monitor.shutdown()  # no background cycle writes from here on
    before = snapshot(api.container.engine)
    response = await api.client.post(path, content=raw, headers=JSON)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (
        problem["status"] == status and problem["success"] is False and problem["error"] == problem["detail"]
    )
    assert problem["title"] and problem["type"].startswith("urn:driftloop:problem:")
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
        assert field in problem["detail"] or status == 400 or field == "(body)"
    assert_clean(response.text)
    assert snapshot(api.container.engine) == before


async def test_wrong_content_type_and_oversized_bodies(api: Api) -> None:
    before = snapshot(api.container.engine)
    body = json.dumps({"action": "start_monitoring", "userId": "u"}).encode()
    text = await api.client.post(FEEDBACK, content=body, headers={**AUTH, "Content-Type": "text/plain"})
    assert text.status_code == 415
    form = await api.client.post(FEEDBACK, data={"action": "start_monitoring", "userId": "u"}, headers=AUTH)
    assert form.status_code == 415
    big = json.dumps(analysis(reasoning="x" * 70_000)).encode()
    declared = await api.client.post(TRADE, content=big, headers=JSON)
    assert declared.status_code == 413 and "65536" in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 4096

    streamed = await api.client.post(TRADE, content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    liar = await api.client.post(TRADE, content=body, headers={**JSON, "Content-Length": "abc"})
    assert liar.status_code == 400
    assert snapshot(api.container.engine) == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"outcome": "MAYBE"}, "outcome"),
        ({"from": "last tuesday"}, "from"),
        ({"to": "0001-01-01T00:00:00-05:00"}, "to"),
        ({"symbol": "NOPE"}, "symbol"),
        ({"userId": "a\x01b"}, "userId"),
        ({"cursor": "eyJ4IjogMX0"}, "cursor"),
    ],
)
async def test_bad_query_parameters(api: Api, query: dict[str, Any], field: str) -> None:
    response = await api.get("/api/trades", params=query)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert response.json()["errors"][0]["location"] == "query"


async def test_no_such_endpoint_or_method_is_a_problem_document(api: Api) -> None:
    missing = await api.get("/api/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong = await api.client.delete(FEEDBACK, headers=AUTH)
    assert wrong.status_code == 405 and wrong.json()["success"] is False
    odd = await api.get("/api/trades/%00%2F..%2Fetc")
    assert odd.status_code == 404
    assert_clean(odd.text)
