"""A local stub of the Drift Data API's per-account endpoints, and record builders.

`DataApiStub` serves `/user/{account}/{trades|fundingPayments|settlePnl}` on 127.0.0.1 as
the real API does: records newest first, 20 a page, `{"success", "records", "meta":
{"nextPage"}}`, the cursor passed back as `?page=`. Faults can be queued (an HTTP status,
a delay longer than the client's timeout, a broken body). The record builders start from
the recorded real fill (`../shared/data/drift-data-api`) when it is there, so the field
set and formats are the real ones; amounts are decimal strings already scaled.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from datadir import SHARED_DATA

RECORDED = SHARED_DATA / "drift-data-api" / "ccxt_recorded_responses.json"
PAGE_SIZE = 20
ACCOUNT = "4giLmCjex6SvXtC1rx38gxqKgsmw2kNrEuYeRA4En1kq"  # the taker of the recorded real fill
OTHER = "BrRpSaQ6hFDw8darPCyP9Sw7sjydMFQqB4ECAotXSEci"
T0 = 1_770_000_000


def recorded_fill() -> dict[str, Any] | None:
    """The real fill record of the recorded `/user/{id}/trades` response, or None without the data."""
    if not RECORDED.is_file():
        return None
    data = json.loads(RECORDED.read_text())
    response = data["methods"]["fetchMyTrades"][0]["httpResponse"]
    return dict(response["records"][0])


_TEMPLATE: dict[str, Any] = {
    "ts": T0,
    "txSig": "",
    "txSigIndex": 1,
    "slot": 399_000_000,
    "fillerReward": "0.000000",
    "baseAssetAmountFilled": "1.000000000",
    "quoteAssetAmountFilled": "100.000000",
    "takerFee": "0.035000",
    "makerRebate": "-0.002500",
    "referrerReward": "0.000000",
    "quoteAssetAmountSurplus": "0.000000",
    "takerOrderBaseAssetAmount": "1.000000000",
    "takerOrderCumulativeBaseAssetAmountFilled": "1.000000000",
    "takerOrderCumulativeQuoteAssetAmountFilled": "100.000000",
    "makerOrderBaseAssetAmount": "1.000000000",
    "makerOrderCumulativeBaseAssetAmountFilled": "1.000000000",
    "makerOrderCumulativeQuoteAssetAmountFilled": "100.000000",
    "oraclePrice": "100.000000",
    "makerFee": "-0.002500",
    "action": "fill",
    "actionExplanation": "orderFilledWithMatch",
    "marketIndex": 0,
    "marketType": "perp",
    "filler": "JE9m89yHHiCGzzL2FAeeZgHKAFwjkW4Qp1GfjegWnojR",
    "fillRecordId": "1",
    "taker": ACCOUNT,
    "takerOrderId": "1",
    "takerOrderDirection": "long",
    "maker": OTHER,
    "makerOrderId": "2",
    "makerOrderDirection": "short",
    "spotFulfillmentMethodFee": "0.000000",
    "marketFilter": "perp",
    "symbol": "SOL-PERP",
    "bitFlags": 0,
    "takerExistingQuoteEntryAmount": "",
    "takerExistingBaseAssetAmount": "",
    "makerExistingQuoteEntryAmount": "",
    "makerExistingBaseAssetAmount": "",
}


def fill_record(
    fill_id: int,
    ts: int,
    *,
    side: str,
    base: str,
    quote: str,
    fee: str = "0",
    role: str = "taker",
    market: int = 0,
    symbol: str = "SOL-PERP",
    reduced_entry: str = "",
    flipped_base: str = "",
    explanation: str = "orderFilledWithMatch",
    slot: int | None = None,
) -> dict[str, Any]:
    """A trade record in which the account is `role` (the counterparty takes the other side)."""
    record = copy.deepcopy(recorded_fill() or _TEMPLATE)
    other_side = "short" if side == "long" else "long"
    other = "maker" if role == "taker" else "taker"
    record.update(
        {
            "ts": ts,
            "slot": slot if slot is not None else 399_000_000 + ts - T0,
            "txSig": f"sig{fill_id}",
            "txSigIndex": 1,
            "fillRecordId": str(fill_id),
            "marketIndex": market,
            "symbol": symbol,
            "baseAssetAmountFilled": base,
            "quoteAssetAmountFilled": quote,
            "actionExplanation": explanation,
            role: ACCOUNT,
            other: OTHER,
            f"{role}OrderDirection": side,
            f"{other}OrderDirection": other_side,
            f"{role}Fee": fee,
            f"{other}Fee": "0.000000" if other == "taker" else "-0.000001",
            f"{role}ExistingQuoteEntryAmount": reduced_entry,
            f"{role}ExistingBaseAssetAmount": flipped_base,
            f"{other}ExistingQuoteEntryAmount": "",
            f"{other}ExistingBaseAssetAmount": "",
        }
    )
    if role == "maker":
        record["makerRebate"] = fee
    return record


def funding_record(
    ts: int, amount: str, position: str, *, market: int = 0, index: int = 0, tx: str | None = None
) -> dict[str, Any]:
    """A funding payment record (`amount` > 0 received), shaped like the real one in ccxt's drift.ts."""
    return {
        "ts": ts,
        "txSig": tx if tx is not None else f"fund{ts}-{market}",
        "txSigIndex": index,
        "slot": 399_000_000 + ts - T0,
        "userAuthority": OTHER,
        "user": ACCOUNT,
        "marketIndex": market,
        "fundingPayment": amount,
        "baseAssetAmount": position,
        "userLastCumulativeFunding": "1180.879259069",
        "ammCumulativeFundingLong": "1180.889121710",
        "ammCumulativeFundingShort": "1180.837256569",
    }


def settle_record(ts: int, pnl: str, position: str = "0.000000000", *, market: int = 0) -> dict[str, Any]:
    return {
        "ts": ts,
        "txSig": f"settle{ts}-{market}",
        "txSigIndex": 0,
        "slot": 399_000_000 + ts - T0,
        "pnl": pnl,
        "user": ACCOUNT,
        "baseAssetAmount": position,
        "quoteAssetAmountAfter": "0.000000",
        "quoteEntryAmount": "0.000000",
        "settlePrice": "100.000000",
        "marketIndex": market,
        "explanation": "none",
    }


@dataclass
class Fault:
    """What the next request to `stream` (any stream if None) gets instead of its page."""

    status: int = 500
    delay: float = 0.0
    body: bytes | None = None
    stream: str | None = None


@dataclass
class DataApiStub:
    """Records per (account, stream), served newest first, `PAGE_SIZE` a page."""

    records: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    page_size: int = PAGE_SIZE
    url: str = ""
    _cache: dict[tuple[str, str], tuple[tuple[int, int], list[dict[str, Any]]]] = field(default_factory=dict)

    def add(self, stream: str, *records: dict[str, Any], account: str = ACCOUNT) -> None:
        self.records.setdefault((account, stream), []).extend(records)

    def _sorted(self, account: str, stream: str) -> list[dict[str, Any]]:
        """Newest first (sorted again only when records were added since)."""
        records = self.records.get((account, stream), [])
        cached = self._cache.get((account, stream))
        if cached is None or cached[0] != (id(records), len(records)):
            key = lambda r: (r["ts"], r["slot"], r.get("txSig", ""), r["txSigIndex"])  # noqa: E731
            cached = ((id(records), len(records)), sorted(records, key=key, reverse=True))
            self._cache[(account, stream)] = cached
        return cached[1]

    def page(self, account: str, stream: str, cursor: str | None) -> tuple[int, bytes]:
        rows = self._sorted(account, stream)
        start = int(cursor[1:]) if cursor else 0
        chunk = rows[start : start + self.page_size]
        more = start + self.page_size < len(rows)
        body = {
            "success": True,
            "records": chunk,
            "meta": {"nextPage": f"p{start + self.page_size}" if more else None},
        }
        return 200, json.dumps(body).encode()

    def answer(self, path: str) -> tuple[int, bytes, float]:
        parsed = urlparse(path)
        self.requests.append(path)
        parts = parsed.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "user":
            return 404, b'{"success":false,"message":"not found"}', 0.0
        account, stream = parts[1], parts[2]
        cursor = parse_qs(parsed.query).get("page", [None])[0]
        for i, fault in enumerate(self.faults):
            if fault.stream in (None, stream):
                del self.faults[i]
                if fault.delay:  # slower than the client's timeout, then the right page
                    return (*self.page(account, stream, cursor), fault.delay)
                return fault.status, fault.body if fault.body is not None else b'{"success":false}', 0.0
        status, body = self.page(account, stream, cursor)
        return status, body, 0.0


@contextmanager
def serve(stub: DataApiStub) -> Iterator[DataApiStub]:
    """Serve `stub` on 127.0.0.1 (a free port) for the duration of the block; `stub.url` is its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, delay = stub.answer(self.path)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def d(text: str) -> Decimal:
    return Decimal(text)
