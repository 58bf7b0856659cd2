"""The venue contract's `Driver` for `DriftVenue` on the fake chain.

A bar is what keepers do as the oracle moves through it: the oracle is set to the open, fillers fill the
pending market orders there, trigger orders already beyond the open fire at the open, then the oracle
moves continuously to the low, the high and the close (a trigger crossed on the way fires at its level).
After every action the driver waits until each open subscription of the venue has read the chain up to
its newest transaction (a wait for a condition, never an assertion on time).
"""

from __future__ import annotations

import asyncio

from drift.world import DriftWorld
from driftloop.adapters.venues.drift.venue import DriftVenue
from driftloop.domain.trade import AccountRef

BAR_SECONDS = 300
CATCH_UP_LIMIT = 30.0  # seconds before a subscription that never catches up fails the test


class DriftDriver:
    def __init__(self, world: DriftWorld, venue: DriftVenue) -> None:
        self.world, self.venue = world, venue
        self.last_close: dict[int, str] = {}

    def account(self, user_id: str, sub_account: int = 0) -> AccountRef:
        return AccountRef(user_id, "drift", sub_account)

    async def bar(self, market: int, open_: str, high: str, low: str, close: str | None = None) -> None:
        await self.caught_up()
        world = self.world
        world.advance(BAR_SECONDS)
        world.set_price(market, open_)
        world.fill_market_orders(market)
        world.move(market, open_, gap=True)
        for level in (low, high, close or open_):
            world.move(market, level)
        self.last_close[market] = close or open_
        await self.caught_up()

    async def close_by_hand(self, account: AccountRef, market: int) -> None:
        await self.caught_up()
        self.world.advance(BAR_SECONDS)
        self.world.close_by_hand(account.sub_account, market)
        await self.caught_up()

    async def caught_up(self) -> None:
        """Wait until every open subscription is listening and has read up to the chain's newest
        transaction of its account."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_LIMIT
        for subscription in list(self.venue.subscriptions):
            while subscription in self.venue.subscriptions:
                history = self.world.chain.signatures_of(self.venue.user_address(subscription.account))
                head = history[-1] if history else None
                if subscription.ready and subscription.cursor == head:
                    break
                if loop.time() > deadline:
                    raise TimeoutError(f"subscription of {subscription.account} never caught up with {head}")
                await asyncio.sleep(0.01)
