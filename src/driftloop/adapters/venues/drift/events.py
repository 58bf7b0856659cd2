"""A sub-account's fills and funding from the program's records in its transaction history.

`AccountEvents` remembers the orders of the sub-account (from `OrderRecord`s and from our own placements)
so that a fill's order tells its leg, hence the exit reason; a fill of an order placed before the window
read (e.g. by an earlier process) sends it further back in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from driftloop.adapters.venues.drift import convert
from driftloop.adapters.venues.drift.history import History, TxEvents
from driftloop.domain.model import Fill, FundingPayment


@dataclass(slots=True)
class AccountEvents:
    """Reads one sub-account's (`address`: its User account) events; `orders` by Drift order id."""

    address: Pubkey
    orders: dict[int, convert.OrderInfo] = field(default_factory=dict)

    def learn(self, txs: list[TxEvents]) -> None:
        """Remember every order of ours these transactions' OrderRecords describe."""
        for tx in txs:
            for name, record in tx.events:
                if name == "OrderRecord" and str(record.user) == str(self.address):
                    info = convert.OrderInfo.of(record.order)
                    self.orders[info.order_id] = info

    async def read(
        self, history: History, txs: list[TxEvents]
    ) -> tuple[list[Fill], list[tuple[int, FundingPayment]]]:
        """The fills (as taker or maker) and funding payments of the account in `txs`, in order."""
        address = str(self.address)
        self.learn(txs)
        needed: set[int] = set()  # orders of our fills placed before this window
        for tx in txs:
            for name, record in tx.events:
                order_id = own_order_id(record, address) if is_fill(name, record) else None
                if order_id is not None and order_id not in self.orders:
                    needed.add(order_id)
        if needed and txs:
            await self._find_orders(history, needed, before=txs[0].signature)
        triggered: dict[int, int] = {}  # order id → trigger price, of our orders triggered in this window
        for tx in txs:
            for name, record in tx.events:
                is_trigger = name == "OrderActionRecord" and convert.variant(record.action) == "Trigger"
                order_id = own_order_id(record, address) if is_trigger else None
                if order_id is not None and record.trigger_price:
                    triggered[order_id] = int(record.trigger_price)
        fills: list[Fill] = []
        funding: list[tuple[int, FundingPayment]] = []
        for tx in txs:
            liquidations = {
                (int(r.liquidate_perp.market_index), int(r.liquidate_perp.fill_record_id)): r
                for n, r in tx.events
                if n == "LiquidationRecord"
                and str(r.user) == address
                and int(r.liquidate_perp.base_asset_amount)
            }
            liquidated = set(liquidations)
            for index, (name, record) in enumerate(tx.events):
                if is_fill(name, record):
                    order_id = own_order_id(record, address)
                    known = None if order_id is None else self.orders.get(order_id)
                    if known is None and order_id is not None and str(record.taker) == address:
                        level = triggered.get(order_id) or int(record.trigger_price or 0)
                        known = convert.OrderInfo.guess_trigger(order_id, record, level)
                    key = (int(record.market_index), int(record.fill_record_id or 0))
                    fill = convert.fill_from_record(record, address, known, key in liquidated)
                    if fill is not None:
                        fills.append(fill)
                elif name == "FundingPaymentRecord" and str(record.user) == address:
                    funding.append(convert.funding_from_record(record, tx.signature, index))
            seen = {(f.market_index, f.fill_id) for f in fills}
            for (
                market,
                fill_record_id,
            ), record in liquidations.items():  # a liquidation logged without its fill
                if (market, convert.fill_id(market, fill_record_id, "taker")) not in seen:
                    fills.append(convert.fill_from_liquidation(record))
        return fills, funding

    async def _find_orders(self, history: History, needed: set[int], before: str) -> None:
        """Walk the history back from `before` until the OrderRecords of `needed` orders are found."""
        while needed:
            statuses = await history.signatures(self.address, before=before, limit=100)
            if not statuses or str(statuses[0].signature) == before:
                return
            self.learn(await history.events(statuses))
            needed -= set(self.orders)
            before = str(statuses[0].signature)


def is_fill(name: str, record: Any) -> bool:
    return name == "OrderActionRecord" and convert.variant(record.action) == "Fill"


def own_order_id(record: Any, address: str) -> int | None:
    """The Drift order id of the account's side of an OrderActionRecord (taker first)."""
    if record.taker is not None and str(record.taker) == address and record.taker_order_id is not None:
        return int(record.taker_order_id)
    if record.maker is not None and str(record.maker) == address and record.maker_order_id is not None:
        return int(record.maker_order_id)
    return None
