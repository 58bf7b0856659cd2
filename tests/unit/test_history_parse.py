"""Drift Data API records → history events: exact decimals, roles, sides, fees, nulls, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from driftloop.adapters.drift_data.client import _envelope
from driftloop.adapters.drift_data.records import RecordParser
from driftloop.domain.errors import InputError
from driftloop.domain.model import ExitReason, OrderSide
from history_stub import ACCOUNT, OTHER, fill_record, funding_record, recorded_fill, settle_record

REAL_TAKER = "4giLmCjex6SvXtC1rx38gxqKgsmw2kNrEuYeRA4En1kq"
REAL_MAKER = "BrRpSaQ6hFDw8darPCyP9Sw7sjydMFQqB4ECAotXSEci"


def parser(account: str = ACCOUNT) -> RecordParser:
    return RecordParser("trades page 1", account)


def real() -> dict[str, Any]:
    record = recorded_fill()
    if record is None:
        pytest.skip("recorded Data API responses not found in ../shared/data/drift-data-api")
    return record


def test_recorded_real_fill_as_taker_is_exact() -> None:
    (event,) = parser(REAL_TAKER).fills(real())
    fill = event.fill
    assert fill.side is OrderSide.BUY and fill.role == "taker"
    assert fill.size == Decimal("0.001") and fill.fee == Decimal("0.048256")
    assert fill.price == Decimal("68936.1")  # 68.936100 / 0.001000000, exact
    assert fill.fill_id == "drift:1:7062235:taker" and fill.market_index == 1 and event.symbol == "BTC-PERP"
    assert fill.ts == datetime.fromtimestamp(1770731837, UTC) and fill.order_id == "6256"
    assert event.reduced is False and fill.cause is None


def test_recorded_real_fill_as_maker_is_a_rebate_that_reduced() -> None:
    (event,) = parser(REAL_MAKER).fills(real())
    assert event.fill.side is OrderSide.SELL and event.fill.role == "maker"
    assert event.fill.fee == Decimal("-0.001861")  # negative: a rebate received
    assert event.reduced is True and event.flipped_base is None  # makerExistingQuoteEntryAmount given


def test_the_account_on_both_sides_gives_two_fills() -> None:
    record = fill_record(5, 1_770_000_000, side="long", base="1.000000000", quote="100.000000")
    record["maker"] = ACCOUNT
    fills = parser().fills(record)
    assert [(f.fill.role, f.fill.side) for f in fills] == [
        ("taker", OrderSide.BUY),
        ("maker", OrderSide.SELL),
    ]


def test_liquidation_marks_the_liquidated_taker_only() -> None:
    record = fill_record(6, 1_770_000_000, side="short", base="1", quote="90", explanation="liquidation")
    (event,) = parser().fills(record)
    assert event.fill.cause is ExitReason.LIQUIDATION
    as_maker = fill_record(7, 1_770_000_000, side="short", base="1", quote="90", role="maker")
    as_maker["actionExplanation"] = "liquidation"
    (liquidator,) = parser().fills(as_maker)
    assert liquidator.fill.cause is None


def test_a_non_terminating_price_is_carried_to_18_places() -> None:
    (event,) = parser().fills(
        fill_record(8, 1_770_000_000, side="long", base="3.000000000", quote="100.000000")
    )
    assert event.fill.price == Decimal("33.333333333333333333")


def test_spot_and_non_fill_records_are_skipped() -> None:
    spot = fill_record(9, 1_770_000_000, side="long", base="1", quote="1")
    spot["marketType"] = "spot"
    assert parser().fills(spot) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"baseAssetAmountFilled": ""}, "baseAssetAmountFilled"),
        ({"quoteAssetAmountFilled": "12,5"}, "quoteAssetAmountFilled"),
        ({"quoteAssetAmountFilled": 12.5}, "quoteAssetAmountFilled"),
        ({"baseAssetAmountFilled": "-1"}, "baseAssetAmountFilled"),
        ({"takerFee": None}, "takerFee"),
        ({"fillRecordId": ""}, "fillRecordId"),
        ({"takerOrderDirection": "up"}, "takerOrderDirection"),
        ({"ts": "yesterday"}, "ts"),
        ({"taker": OTHER}, "taker"),
        ({"marketIndex": -1}, "marketIndex"),
        ({"quoteAssetAmountFilled": "NaN"}, "quoteAssetAmountFilled"),
    ],
)
def test_a_bad_fill_record_names_the_field(change: dict[str, Any], field: str) -> None:
    record = fill_record(10, 1_770_000_000, side="long", base="1", quote="100", fee="0.035")
    record.update(change)
    p = parser()
    p.index = 3
    with pytest.raises(InputError) as caught:
        p.fills(record)
    assert caught.value.field == field
    assert "trades page 1 record 3" in str(caught.value)


def test_funding_record_real_shape_exact_with_rate_from_cumulative_funding() -> None:
    event = parser().funding(funding_record(1770364868, "-0.000210", "-0.005000000", market=2))
    assert event.payment.amount == Decimal("-0.000210") and event.position == Decimal("-0.005")
    # a short: ammCumulativeFundingShort − userLastCumulativeFunding, per base unit
    assert event.payment.rate == Decimal("1180.837256569") - Decimal("1180.879259069")
    assert event.market_index == 2 and event.payment.payment_id == "drift:funding:fund1770364868-2:0"


def test_funding_and_settle_bad_fields_are_named() -> None:
    with pytest.raises(InputError, match="fundingPayment"):
        parser().funding(funding_record(1_770_000_000, "", "1"))
    with pytest.raises(InputError, match="pnl"):
        parser().settle(settle_record(1_770_000_000, "abc"))
    assert parser().settle(settle_record(1_770_000_000, "-1.500000")).pnl == Decimal("-1.5")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", None),
        (b'{"success": false, "records": []}', "success"),
        (b'{"success": true, "records": {}}', "records"),
        (b'{"success": true, "records": [], "meta": {"nextPage": true}}', "meta.nextPage"),
    ],
)
def test_a_broken_envelope_is_an_input_error(body: bytes, field: str | None) -> None:
    with pytest.raises(InputError) as caught:
        _envelope(body, "http://x/user/a/trades")
    assert caught.value.field == field


def test_envelope_next_page_cursor() -> None:
    assert _envelope(b'{"success":true,"records":[],"meta":{"nextPage":"abc"}}', "u") == ([], "abc")
    assert _envelope(b'{"success":true,"records":[1],"meta":{"nextPage":null}}', "u") == ([1], None)
