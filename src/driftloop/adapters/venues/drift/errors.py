"""Errors from driftpy, solana-py and the RPC node, translated once into driftloop's taxonomy.

temporary (network, timeouts, rate limits, a node behind, an unconfirmed transaction) → `TemporaryError`,
retried with backoff; the program refused (simulation or instruction error) → `RejectedError` with the
program's error name and message; configuration problems (no such account, bad key) are raised
as `ConfigError` where they are found.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from solana.exceptions import SolanaRpcException
from solana.rpc.core import RPCException, UnconfirmedTxError

from driftloop.domain.errors import DriftloopError, RejectedError, TemporaryError

_TEMPORARY_HINTS = (
    "blockhash not found",
    "node is behind",
    "too many requests",
    "429",
    "timed out",
    "rate limit",
    "service unavailable",
    "try again",
)
_CUSTOM = re.compile(r"custom program error: (0x[0-9a-fA-F]+)")


class ErrorTranslator:
    """Maps exceptions to the taxonomy; knows the program's error names from its IDL."""

    def __init__(self, idl_errors: dict[int, tuple[str, str]] | None = None) -> None:
        self.idl_errors = idl_errors or {}

    def translate(self, exc: BaseException, action: str) -> DriftloopError:
        if isinstance(exc, DriftloopError):
            return exc
        if isinstance(exc, UnconfirmedTxError):
            return TemporaryError(f"{action}: transaction not confirmed in time ({exc})")
        if isinstance(exc, RPCException):
            return self._rpc(exc, action)
        if isinstance(exc, (SolanaRpcException, httpx.HTTPError, OSError, asyncio.TimeoutError)):
            return TemporaryError(f"{action}: RPC node unreachable or failing ({type(exc).__name__})")
        return TemporaryError(f"{action}: unexpected {type(exc).__name__}: {exc}")

    def _rpc(self, exc: RPCException, action: str) -> DriftloopError:
        body: Any = exc.args[0] if exc.args else None
        message = str(getattr(body, "message", "") or body or exc)
        logs = list(getattr(getattr(body, "data", None), "logs", None) or [])
        text = " ".join([message, *logs])
        found = _CUSTOM.search(text)
        if found:
            code = int(found.group(1), 16)
            name, msg = self.idl_errors.get(code, (f"error {code}", ""))
            return RejectedError(f"{action} rejected by the program: {name}" + (f" ({msg})" if msg else ""))
        if any(hint in text.lower() for hint in _TEMPORARY_HINTS):
            return TemporaryError(f"{action}: {message}")
        if "simulation failed" in text.lower() or "instructionerror" in text.lower().replace(" ", ""):
            return RejectedError(f"{action} rejected: {message}")
        return TemporaryError(f"{action}: RPC error: {message}")


@asynccontextmanager
async def boundary(translator: ErrorTranslator, action: str) -> AsyncIterator[None]:
    """Translate whatever escapes the block (cancellation passes through untouched)."""
    try:
        yield
    except (DriftloopError, asyncio.CancelledError):
        raise
    except Exception as exc:
        raise translator.translate(exc, action) from exc
    except BaseException as exc:
        # solders (Rust) panics on a malformed RPC response: pyo3's PanicException is a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise TemporaryError(f"{action}: malformed RPC response ({exc})") from exc
