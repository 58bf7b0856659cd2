"""HTTP client of the Drift Data API's rolling per-account endpoints (newest first, 20 a page).

`GET {api}/user/{accountId}/{trades|fundingPayments|settlePnl}[?page=cursor]` answers
`{"success": true, "records": [...], "meta": {"nextPage": cursor | null}}`. Faults are
translated here, once: timeouts, connection errors, 429 and 5xx are `TemporaryError`
(the service retries them with backoff); another 4xx is a `ConfigError` (wrong URL or
account); a body that is not that envelope, or a record that breaks the format, is an
`InputError` naming the page and the field.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from driftloop.adapters.drift_data.records import RecordParser
from driftloop.domain.errors import ConfigError, InputError, TemporaryError
from driftloop.domain.history import HistoryEvent
from driftloop.services.history_import import FUNDING_STREAM, SETTLE_STREAM, TRADES_STREAM, Page

DEFAULT_API_URL = "https://data.api.drift.trade"


class DriftDataClient:
    """`services.history_import.HistorySource` over httpx (use as an async context manager)."""

    def __init__(
        self,
        account: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.api_url = api_url.rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"Accept": "application/json"}
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, stream: str) -> str:
        return f"{self.api_url}/user/{quote(self.account, safe='')}/{stream}"

    async def page(self, stream: str, cursor: str | None) -> Page:
        """One page of a stream, parsed (the first page without a cursor)."""
        url = self.url(stream)
        where = url + (f"?page={cursor}" if cursor is not None else "")
        try:
            response = await self._client.get(url, params={"page": cursor} if cursor is not None else None)
        except httpx.TimeoutException as exc:
            raise TemporaryError(f"Data API timed out: {where} ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TemporaryError(f"Data API unreachable: {where} ({exc})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TemporaryError(f"Data API answered {status}: {where}")
        if status != 200:
            raise ConfigError(f"Data API answered {status} for {where}: check --api-url and --account")
        records, next_page = _envelope(response.content, where)
        return Page(_parse(stream, records, RecordParser(where, self.account)), next_page, len(records))


def _envelope(content: bytes, where: str) -> tuple[list[Any], str | None]:
    try:
        body = json.loads(content)
    except ValueError:
        raise InputError("the response is not JSON", source=where) from None
    if not isinstance(body, dict):
        raise InputError("the response is not a JSON object", source=where)
    if body.get("success") is not True:
        raise InputError(f"must be true, got {body.get('success')!r}", source=where, field="success")
    records = body.get("records")
    if not isinstance(records, list):
        raise InputError("must be a list", source=where, field="records")
    meta = body.get("meta")
    if meta is None:
        return records, None
    if not isinstance(meta, dict):
        raise InputError("must be an object", source=where, field="meta")
    next_page = meta.get("nextPage")
    if next_page is None or next_page == "":
        return records, None
    if isinstance(next_page, bool) or not isinstance(next_page, str | int):
        raise InputError(f"must be a string or null, got {next_page!r}", source=where, field="meta.nextPage")
    return records, str(next_page)


def _parse(stream: str, records: list[Any], parser: RecordParser) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    for index, record in enumerate(records):
        parser.index = index
        if stream == TRADES_STREAM:
            events.extend(parser.fills(record))
        elif stream == FUNDING_STREAM:
            events.append(parser.funding(record))
        elif stream == SETTLE_STREAM:
            events.append(parser.settle(record))
        else:
            raise ValueError(f"unknown stream {stream!r}")
    return events
