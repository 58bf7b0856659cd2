"""Fixtures of the API tests: the app over a migrated database (SQLite and PostgreSQL) with an
injected paper venue whose candles the test feeds, and an httpx client on the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import Container, bootstrap
from driftloop.entrypoints.api import create_app
from driftloop.entrypoints.api.state import ApiState

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BAR = timedelta(minutes=5)
SOL = 0


def bar(i: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle(T0 + i * BAR, Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(1000))


def flat(i: int, price: str = "100") -> Candle:
    """A quiet bar around `price` (±0.2 %)."""
    p = Decimal(price)
    return bar(i, price, str(p * Decimal("1.002")), str(p * Decimal("0.998")), price)


def analysis(**changes: Any) -> dict[str, Any]:
    """A valid trade request body: BUY SOL-PERP at ~100, stop 95, target 105."""
    body: dict[str, Any] = {
        "userId": "drift-user",
        "id": "an-1",
        "timestamp": "2025-01-01T00:05:00Z",
        "symbol": "SOL-PERP",
        "timeframe": "5m",
        "prediction": "BULLISH",
        "confidence": 70,
        "recommendation": "BUY",
        "stopLoss": 95,
        "takeProfit": 105,
        "leverage": 2,
        "sizeUsd": 100,
        "analyst": "test",
        "reasoning": "a test analysis",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Api:
    """The running app: client (with the token), the venue and a feed the test drives."""

    app: FastAPI
    client: httpx.AsyncClient
    container: Container
    venue: PaperVenue
    history: BarHistory
    next_bar: int = 0

    @property
    def state(self) -> ApiState:
        state: ApiState = self.app.state.api
        return state

    async def feed(self, *candles: Candle) -> None:
        """Feed bars to the paper venue (and the bar history), as the live feed does."""
        feed = LiveFeed(self.venue, self.history, candles, SOL)
        while await feed.step() is not None:
            self.next_bar += 1

    async def flat_bars(self, count: int, price: str = "100") -> None:
        await self.feed(*(flat(self.next_bar + i, price) for i in range(count)))

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(
            path, json=body, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs
        )

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def container(db_url: str) -> Iterator[Container]:
    c = bootstrap(database_url=db_url)
    try:
        yield c
    finally:
        c.engine.dispose()


@pytest.fixture
async def api(container: Container) -> AsyncIterator[Api]:
    """The app with its lifespan running (monitor on), one quiet SOL bar at 100 already fed."""
    venue, history = PaperVenue(), BarHistory()
    app = create_app(container, token=TOKEN, venue=venue, history=history, run_feeds=False)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    async with app.router.lifespan_context(app), client:
        running = Api(app, client, container, venue, history)
        await running.flat_bars(1)
        yield running
