"""`Idempotency-Key` for `POST /api/drift/trade`: the same key and body give the same response.

Successful responses are kept in memory (per process, 24 h, at most 10,000 keys) with a digest of
the request body. Requests with one key are serialised by a lock, so parallel retries run the
use case once. A key reused with another body is refused (422). The store does not survive a
restart; retries across a restart stay safe because placing a trade is itself idempotent on
(user, analysis id).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 3600
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class StoredResponse:
    body_digest: str
    status: int
    content: dict[str, Any]
    stored_at: float


def body_digest(payload: Any) -> str:
    """Digest of a JSON payload independent of key order and whitespace."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(33 <= ord(c) <= 126 for c in key)


class KeyedLocks:
    """One asyncio lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            yield


class IdempotencyStore:
    def __init__(self, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self.locks = KeyedLocks()

    def get(self, key: str) -> StoredResponse | None:
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.stored_at > self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, digest: str, status: int, content: dict[str, Any]) -> None:
        self._entries[key] = StoredResponse(digest, status, content, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
