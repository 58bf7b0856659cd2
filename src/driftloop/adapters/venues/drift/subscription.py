"""Pushing a sub-account's new fills and funding: driftpy's `EventSubscriber` on the user account wakes
us, `events_since` (from the last pushed cursor) says what is new.

driftpy's `PollingLogProvider` never advances its `most_recent_tx`, so every poll would list the
account's whole history again; the handler below advances it after each transaction it is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from driftpy.events.event_subscriber import EventSubscriber
from driftpy.events.types import (
    EventSubscriptionOptions,
    PollingLogProviderConfig,
    WebsocketLogProviderConfig,
)
from solders.signature import Signature

from driftloop.domain.trade import AccountRef
from driftloop.services.ports import VenueEvents

if TYPE_CHECKING:
    from driftloop.adapters.venues.drift.venue import DriftVenue

log = logging.getLogger(__name__)
EVENT_TYPES = (
    "OrderRecord",
    "OrderActionRecord",
    "FundingPaymentRecord",
    "LiquidationRecord",
    "SettlePnlRecord",
)


class DriftSubscription:
    """A `Subscription`: `close()` stops the pushes. `ready` once listening; `cursor` is what it has read."""

    def __init__(
        self, venue: DriftVenue, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> None:
        self.venue, self.account, self.on_events = venue, account, on_events
        self.cursor: str | None = None
        self.ready = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscriber: Any = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"drift-events-{self.account}")

    def close(self) -> None:
        """Stop pushing (idempotent)."""
        if self in self.venue.subscriptions:
            self.venue.subscriptions.remove(self)
        if self._subscriber is not None:
            self._subscriber.unsubscribe()
            self._subscriber = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        try:
            await self._listen()
        except asyncio.CancelledError:
            raise
        except Exception:  # polling events_since is the safety net
            log.exception("the Drift event subscription of %s stopped", self.account)

    async def _listen(self) -> None:
        c = await self.venue.connect()
        address = self.venue.user_address(self.account)
        self.cursor = await c.history.head(address)
        settings = self.venue.settings
        provider = (
            PollingLogProviderConfig(frequency=settings.poll_interval_seconds)
            if settings.subscription == "polling"
            else WebsocketLogProviderConfig()
        )
        options = EventSubscriptionOptions(
            address=address,
            event_types=EVENT_TYPES,
            commitment=settings.commitment,
            log_provider_config=provider,
        )
        subscriber = EventSubscriber(c.connection, c.program, options)
        log_provider = subscriber.log_provider

        def on_tx(signature: Any, slot: int, logs: list[str]) -> None:
            subscriber.handle_tx_logs(signature, slot, logs)
            if hasattr(log_provider, "most_recent_tx"):
                log_provider.most_recent_tx = Signature.from_string(str(signature))
            self._wake.set()

        log_provider.subscribe(on_tx)
        subscriber.subscribed = True
        self._subscriber = subscriber
        self.ready = True
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                events = await self.venue.events_since(self.account, self.cursor)
            except Exception:
                log.warning(
                    "reading pushed Drift events failed; the monitor's polling will catch up", exc_info=True
                )
                continue
            self.cursor = events.cursor or self.cursor
            if events.fills or events.funding:
                try:
                    await self.on_events(events)
                except Exception:
                    log.exception("a subscriber of %s failed on pushed Drift events", self.account)
