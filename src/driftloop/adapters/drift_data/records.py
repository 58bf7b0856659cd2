"""Drift Data API records → history events (exact `Decimal` from the decimal strings).

Values arrive as decimal strings already scaled (base 9 places, quote 6); an empty
string means null. A record that breaks the format raises `InputError` naming where it
came from (stream, page, record index) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from driftloop.domain.errors import InputError
from driftloop.domain.history import (
    FILL,
    FUNDING,
    SETTLE,
    EventKey,
    HistoryFill,
    HistoryFunding,
    SettleRecord,
    fill_price,
)
from driftloop.domain.markets import PERP_MARKETS
from driftloop.domain.model import ExitReason, Fill, FundingPayment, OrderLeg, OrderSide

SYMBOLS = {index: symbol for symbol, index in PERP_MARKETS.items()}
LIQUIDATION = "liquidation"
MAX_TS = 253402300799  # 9999-12-31T23:59:59Z


def drift_fill_id(market_index: int, fill_record_id: str, role: str) -> str:
    """Drift's identity of a fill as the venue adapter writes it: market, fill record id, our role."""
    return f"drift:{market_index}:{fill_record_id}:{role}"


class RecordParser:
    """Parses the records of one stream page; errors name `source`, the record and the field."""

    def __init__(self, source: str, account: str) -> None:
        self.source = source
        self.account = account
        self.index = 0

    def _error(self, message: str, field: str) -> InputError:
        return InputError(message, source=f"{self.source} record {self.index}", field=field)

    def _raw(self, record: Mapping[str, Any], name: str) -> Any:
        value = record.get(name)
        return None if value == "" else value

    def text(self, record: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
        value = self._raw(record, name)
        if value is None:
            if required:
                raise self._error("missing (null or empty)", name)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._error(f"must be a string, got {type(value).__name__}", name)
        return str(value)

    def integer(self, record: Mapping[str, Any], name: str, low: int = 0, high: int = 2**63 - 1) -> int:
        value = self._raw(record, name)
        if value is None:
            raise self._error("missing (null or empty)", name)
        if isinstance(value, bool):
            raise self._error("must be an integer, got a boolean", name)
        try:
            number = int(value) if isinstance(value, int | str) else None
        except ValueError:
            number = None
        if number is None:
            raise self._error(f"must be an integer, got {value!r}", name)
        if not low <= number <= high:
            raise self._error(f"must be between {low} and {high}, got {number}", name)
        return number

    def decimal(self, record: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
        value = self._raw(record, name)
        if value is None:
            if required:
                raise self._error("missing (null or empty)", name)
            return None
        if not isinstance(value, str):
            # The API sends decimal strings; a JSON number would have been a binary float.
            raise self._error(f"must be a decimal string, got {type(value).__name__} {value!r}", name)
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._error(f"not a decimal number: {value!r}", name) from None
        if not number.is_finite():
            raise self._error(f"not a finite number: {value!r}", name)
        return number

    def required_decimal(self, record: Mapping[str, Any], name: str) -> Decimal:
        value = self.decimal(record, name)
        assert value is not None
        return value

    def positive(self, record: Mapping[str, Any], name: str) -> Decimal:
        value = self.required_decimal(record, name)
        if value <= 0:
            raise self._error(f"must be positive, got {value}", name)
        return value

    def key(self, record: Mapping[str, Any], kind: int, ident: str) -> EventKey:
        ts = datetime.fromtimestamp(self.integer(record, "ts", 0, MAX_TS), UTC)
        tx = self.text(record, "txSig", required=False) or ""
        return EventKey(ts, self.integer(record, "slot"), tx, self.integer(record, "txSigIndex"), kind, ident)

    def market(self, record: Mapping[str, Any]) -> int:
        return self.integer(record, "marketIndex", 0, 65535)

    def direction(self, record: Mapping[str, Any], name: str) -> OrderSide:
        value = self.text(record, name)
        if value == "long":
            return OrderSide.BUY
        if value == "short":
            return OrderSide.SELL
        raise self._error(f"must be long or short, got {value!r}", name)

    def is_perp(self, record: Mapping[str, Any]) -> bool:
        market_type = self._raw(record, "marketType")
        return market_type is None or market_type == "perp"

    # --- records -------------------------------------------------------------

    def fills(self, record: Mapping[str, Any]) -> list[HistoryFill]:
        """The account's fills in one trade record (two when it was both taker and maker)."""
        if not isinstance(record, Mapping):
            raise self._error("a record must be a JSON object", "records")
        if not self.is_perp(record):
            return []
        action = self.text(record, "action", required=False)
        if action is not None and action != "fill":
            return []
        roles = [
            role for role in ("taker", "maker") if self.text(record, role, required=False) == self.account
        ]
        if not roles:
            raise self._error(f"names neither taker nor maker as the account {self.account}", "taker")
        fill_id = self.text(record, "fillRecordId")
        assert fill_id is not None
        market = self.market(record)
        base = self.positive(record, "baseAssetAmountFilled")
        quote = self.positive(record, "quoteAssetAmountFilled")
        price = fill_price(quote, base)
        explanation = self.text(record, "actionExplanation", required=False) or ""
        symbol = self.text(record, "symbol", required=False) or SYMBOLS.get(market, f"PERP-{market}")
        oracle = self.decimal(record, "oraclePrice", required=False)  # the reference of a market entry
        found = []
        for role in roles:
            fee = self.required_decimal(record, f"{role}Fee")
            existing_quote = self.decimal(record, f"{role}ExistingQuoteEntryAmount", required=False)
            existing_base = self.decimal(record, f"{role}ExistingBaseAssetAmount", required=False)
            order_id = self.text(record, f"{role}OrderId", required=False)
            cause = ExitReason.LIQUIDATION if explanation == LIQUIDATION and role == "taker" else None
            identity = drift_fill_id(market, fill_id, role)
            key = self.key(record, FILL, identity)
            fill = Fill(
                fill_id=identity,
                ts=key.ts,
                side=self.direction(record, f"{role}OrderDirection"),
                price=price,
                size=base,
                fee=fee,
                leg=OrderLeg.ENTRY,
                cause=cause,
                reference_price=oracle,
                role=role,
                market_index=market,
                order_id=order_id,
            )
            says = f"{role}ExistingQuoteEntryAmount" in record or f"{role}ExistingBaseAssetAmount" in record
            reduced = (existing_quote is not None or existing_base is not None) if says else None
            found.append(HistoryFill(key, symbol, fill, reduced, existing_base))
        return found

    def funding(self, record: Mapping[str, Any]) -> HistoryFunding:
        if not isinstance(record, Mapping):
            raise self._error("a record must be a JSON object", "records")
        market = self.market(record)
        amount = self.required_decimal(record, "fundingPayment")
        position = self.decimal(record, "baseAssetAmount", required=False)
        last = self.decimal(record, "userLastCumulativeFunding", required=False)
        long = position is not None and position > 0  # as the venue adapter: short unless above 0
        side_field = "ammCumulativeFundingLong" if long else "ammCumulativeFundingShort"
        cumulative = self.decimal(record, side_field, required=False)
        # Drift's rate: the change of the cumulative funding per base unit since the last payment.
        rate = cumulative - last if cumulative is not None and last is not None else Decimal(0)
        tx = self.text(record, "txSig", required=False) or ""
        index = self.integer(record, "txSigIndex")
        where = tx or f"slot{self.integer(record, 'slot')}"
        ident = f"drift:funding:{where}:{index}"  # as the venue adapter names a payment
        key = self.key(record, FUNDING, f"{ident}:{market}")
        payment = FundingPayment(ts=key.ts, rate=rate, amount=amount, payment_id=ident)
        return HistoryFunding(key, market, payment, position)

    def settle(self, record: Mapping[str, Any]) -> SettleRecord:
        if not isinstance(record, Mapping):
            raise self._error("a record must be a JSON object", "records")
        market = self.market(record)
        pnl = self.required_decimal(record, "pnl")
        position = self.required_decimal(record, "baseAssetAmount")
        tx = self.text(record, "txSig", required=False) or ""
        key = self.key(record, SETTLE, f"{tx}:{self.integer(record, 'txSigIndex')}:{market}")
        return SettleRecord(key, market, pnl, position)
