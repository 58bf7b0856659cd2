"""A Drift user account's transaction history: signatures after a cursor, their program events.

The cursor is the signature of the newest transaction read. `getSignaturesForAddress(user, until=cursor)`
lists what came after it (newest first, paged with `before`); the logs are fetched in raw JSON-RPC
batches (driftpy's `fetch_transactions`) and decoded with driftpy's `parse_logs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anchorpy import Program
from driftpy.events.fetch_logs import fetch_transactions
from driftpy.events.parse import parse_logs
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solders.pubkey import Pubkey
from solders.signature import Signature

PAGE = 1000  # getSignaturesForAddress's maximum
BATCH = 25  # getTransaction requests per POST


@dataclass(frozen=True, slots=True)
class TxEvents:
    signature: str
    slot: int
    events: list[tuple[str, Any]]  # (event name, decoded record), in log order


class History:
    def __init__(self, connection: AsyncClient, program: Program, commitment: str) -> None:
        self.connection, self.program, self.commitment = connection, program, Commitment(commitment)

    async def signatures(
        self,
        address: Pubkey,
        *,
        until: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[Any]:
        """Successful transactions mentioning `address` strictly between `before` and `until`,
        oldest first. A node that ignores `until`/`before` is tolerated: the list is cut at them."""
        out: list[Any] = []
        cursor = None if before is None else Signature.from_string(before)
        stop = None if until is None else Signature.from_string(until)
        while True:
            page_size = PAGE if limit is None else min(PAGE, limit - len(out))
            resp = await self.connection.get_signatures_for_address(
                address, cursor, stop, page_size, self.commitment
            )
            page = list(resp.value or [])
            seen = {str(s.signature) for s in out}
            fresh = [s for s in page if str(s.signature) not in seen]
            out.extend(fresh)
            if not fresh or len(page) < page_size or (limit is not None and len(out) >= limit):
                break
            cursor = page[-1].signature
        names = [str(s.signature) for s in out]  # newest first, as the RPC lists them
        if until is not None and until in names:
            out = out[: names.index(until)]
        if before is not None and before in names:
            out = out[names.index(before) + 1 :]
        oldest_first = sorted(reversed(out), key=lambda s: int(s.slot))  # stable: block order within a slot
        return [s for s in oldest_first if s.err is None]

    async def head(self, address: Pubkey) -> str | None:
        """The newest transaction mentioning `address`."""
        newest = await self.signatures(address, limit=1)
        return str(newest[-1].signature) if newest else None

    async def events(self, statuses: Sequence[Any]) -> list[TxEvents]:
        """The program events of these transactions, in the given order."""
        found: dict[str, TxEvents] = {}
        for start in range(0, len(statuses), BATCH):
            chunk = statuses[start : start + BATCH]
            for sig, slot, logs in await fetch_transactions(self.connection, chunk, self.commitment):
                events = [(e.name, e.data) for e in parse_logs(self.program, logs or [])]
                found[str(sig)] = TxEvents(str(sig), int(slot), events)
        missing = [str(s.signature) for s in statuses if str(s.signature) not in found]
        if missing:
            raise LookupError(f"the RPC node returned no transaction for {missing[:3]} (not yet indexed?)")
        return [found[str(s.signature)] for s in statuses]
