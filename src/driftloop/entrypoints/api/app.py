"""The FastAPI application: `create_app(container, token=...)`.

The loop (venue, trading service, monitor) is wired when the app is created; the lifespan starts
the paper venue's price feeds and resumes the monitoring of stored users, and stops both cleanly.
Tests inject the venue, the bar history and feeds they drive themselves (`run_feeds=False`).

Auth: a bearer token on everything except `/api/health`, `/metrics` and the OpenAPI documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.bootstrap import Container
from driftloop.domain.errors import ConfigError
from driftloop.domain.trade import AccountRef
from driftloop.entrypoints.api import routes_feedback, routes_read, routes_trades
from driftloop.entrypoints.api.metrics import Metrics
from driftloop.entrypoints.api.middleware import ApiMiddleware
from driftloop.entrypoints.api.problems import PROBLEM_JSON, install_handlers
from driftloop.entrypoints.api.routes_read import package_version
from driftloop.entrypoints.api.state import ApiState, StatusCache
from driftloop.loop import build_loop
from driftloop.services.monitoring import CheckResult
from driftloop.services.policy import Policy, RawPolicy
from driftloop.services.ports import Venue
from driftloop.services.trading import TradingService

log = logging.getLogger("driftloop.api")
# The token is checked by `ApiMiddleware`; the OpenAPI document declares it on the secured operations.
# (As a FastAPI `Security` dependency it only documented the scheme, and cost ~3 % of a request.)
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "`Authorization: Bearer <token>` (DRIFTLOOP_API_TOKEN).",
}

DESCRIPTION = """driftloop closes the loop between an AI trade analyst and execution on Drift:
analyses become trades on the venue, the monitor captures each outcome, insights and learning follow.

* **Auth**: `Authorization: Bearer <token>` on every endpoint except `/api/health` and `/metrics`.
* **Errors**: RFC 9457 problem details (`application/problem+json`) with the seed's `success: false`
  and `error`; validation errors list every field (camelCase) in `errors`.
* **Rates** in insights are percentages 0-100; probabilities (calibration) are 0-1.
"""


def _no_loops_trading(container: Container, venue: Venue) -> TradingService:
    """A trading service that only records monitoring (no in-process loops): `--no-monitor`."""

    def venue_for(account: AccountRef) -> Venue:
        if account.venue != venue.name:
            raise ConfigError(f"account {account.user_id} trades on {account.venue!r}, not {venue.name!r}")
        return venue

    return TradingService(container.uow, venue_for, container.clock)


def _problem_content(schema: dict[str, Any]) -> None:
    """Error responses are problem+json: move the schema FastAPI put under application/json there."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON]["schema"] = content.pop("application/json")["schema"]


def create_app(
    container: Container,
    *,
    token: str,
    venue: Venue | None = None,
    history: BarHistory | None = None,
    feeds: Sequence[LiveFeed] = (),
    run_feeds: bool = True,
    monitor: bool = True,
    policies: dict[str, Policy] | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """The API over `container`'s database, on `venue` (the configured paper venue by default)."""
    if not token:
        raise ConfigError("the API needs a token")
    metrics = Metrics()
    status_cache = StatusCache()
    metrics.on_change = status_cache.clear

    def on_cycle(result: CheckResult, seconds: float) -> None:
        status_cache.clear()
        metrics.on_cycle(result, seconds)

    loop = build_loop(container, venue=venue, history=history, on_cycle=on_cycle, serving=True)
    state = ApiState(
        container=container,
        loop=loop,
        trading=loop.trading if monitor else _no_loops_trading(container, loop.venue),
        metrics=metrics,
        policies=policies if policies is not None else {"raw": RawPolicy()},
        feeds=list(feeds),
        monitor_enabled=monitor,
        version=package_version(),
        status_cache=status_cache,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.attach()
        tasks: list[asyncio.Task[int]] = []
        try:
            if run_feeds:
                for feed in state.feeds:
                    if feed.fed == 0:
                        await feed.step()  # a price before the first request
                    tasks.append(asyncio.create_task(feed.run(), name=f"feed:{feed.market_index}"))
            if monitor:
                resumed = await loop.monitor.resume()
                log.info("monitoring resumed for %d user(s)", len(resumed))
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await loop.monitor.shutdown()
            metrics.detach()

    app = FastAPI(
        title="driftloop API",
        version=state.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        **_telemetry(container.settings.otel_telemetry),
    )
    app.state.api = state
    install_handlers(app)
    secured_routers = (routes_feedback.router, routes_trades.router, routes_read.router)
    for router in (*secured_routers, routes_read.open_router):
        app.include_router(router)
    max_body = max_body_bytes if max_body_bytes is not None else container.settings.max_body_bytes
    app.add_middleware(ApiMiddleware, token=token, max_body=max_body, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _problem_content(schema)
            _declare_bearer(schema, secured_routers)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _declare_bearer(schema: dict[str, Any], routers: Sequence[APIRouter]) -> None:
    """The bearer scheme, required by every operation of `routers`."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["HTTPBearer"] = BEARER_SCHEME
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in route.methods or ():
                    operation = schema["paths"][route.path].get(method.lower())
                    if operation is not None:
                        operation["security"] = [{"HTTPBearer": []}]


def _telemetry(enabled: bool) -> dict[str, Any]:
    """FastAPI's `telemetry` option (FastAPI releases that have native OpenTelemetry), off unless asked."""
    if enabled or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
