"""DriftVenue details on the fake chain: record conversion (maker rebates), error translation, the
secret key, configuration errors, and another program id / state seed (a Velocity-style deployment)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

pytest.importorskip("driftpy", reason="driftpy is an optional extra (make test runs it in .venv-drift)")

from solders.pubkey import Pubkey

from drift.codec import BUNDLED_IDL, DriftCodec, replace, variant
from drift.driver import DriftDriver
from drift.world import DriftWorld
from driftloop.adapters.venues.drift import convert
from driftloop.adapters.venues.drift.venue import DriftVenue
from driftloop.config import DriftSettings
from driftloop.domain.errors import ConfigError, RejectedError, TemporaryError
from driftloop.domain.model import ExitReason, OrderLeg, OrderSide, Side
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import BracketRequest, VenueEvents
from driftloop.services.retry import RetryPolicy, with_retry

D = Decimal
ALICE = AccountRef("alice", "drift", 0)
IDS = {OrderLeg.ENTRY: 1, OrderLeg.STOP_LOSS: 2, OrderLeg.TAKE_PROFIT: 3}


@pytest.fixture
def world() -> Iterator[DriftWorld]:
    w = DriftWorld()
    yield w
    w.close()


def bracket(size: str = "2", ids: dict[OrderLeg, int] = IDS, account: AccountRef = ALICE) -> BracketRequest:
    return BracketRequest("t1", account, "SOL-PERP", 0, Side.LONG, D(size), D(95), D(110), D(2), ids)


def test_a_maker_fill_carries_the_rebate_as_a_negative_fee() -> None:
    codec = DriftCodec()
    tmpl = codec.event_template("OrderActionRecord")
    direction = codec.template("User").orders[0].direction
    user, other = Pubkey.new_unique(), Pubkey.new_unique()
    record = replace(
        tmpl,
        ts=1_735_689_600,
        action=variant(tmpl.action, "Fill"),
        action_explanation=variant(tmpl.action_explanation, "OrderFilledWithMatch"),
        market_index=2,
        market_type=variant(tmpl.market_type, "Perp"),
        fill_record_id=77,
        base_asset_amount_filled=3_000_000,
        quote_asset_amount_filled=10_095_123,
        taker_fee=3_534,
        maker_fee=-202,
        taker=other,
        taker_order_id=9,
        taker_order_direction=variant(direction, "Long"),
        maker=user,
        maker_order_id=41,
        maker_order_direction=variant(direction, "Short"),
        oracle_price=3_365_000_000,
    )
    line = codec.event_line("OrderActionRecord", record)  # through the bytes, as the program logs it
    decoded = codec.coder.events.parse(base64.b64decode(line.removeprefix("Program data: "))).data
    fill = convert.fill_from_record(decoded, str(user), None)
    assert fill is not None
    assert (fill.role, fill.side, fill.size, fill.fee, fill.fill_id) == (
        "maker", OrderSide.SELL, D("0.003"), D("-0.000202"), "drift:2:77:maker")  # fmt: skip
    assert fill.price == D("3365.041")  # 10.095123 / 0.003, exactly
    assert (fill.leg, fill.cause, fill.order_id) == (OrderLeg.EXTERNAL, ExitReason.MANUAL, "41")
    taker = convert.fill_from_record(decoded, str(other), None)
    assert taker is not None
    assert (taker.role, taker.side, taker.fee, taker.fill_id) == (
        "taker",
        OrderSide.BUY,
        D("0.003534"),
        "drift:2:77:taker",
    )
    assert convert.fill_from_record(decoded, str(Pubkey.new_unique()), None) is None


def test_the_program_refusing_is_a_rejection_with_its_error_name(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue()
        with pytest.raises(RejectedError, match="InsufficientCollateral"):
            await venue.place_bracket(bracket(size="5000"))  # 500k notional on 10k collateral
        assert await venue.open_orders(ALICE) == []
        await venue.close()

    asyncio.run(go())


def test_a_node_behind_is_temporary_and_retried(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue()
        await venue.connect()
        behind = {"code": -32005, "message": "Node is behind by 42 slots", "data": {"numSlotsBehind": 42}}
        world.chain.fail_next = [behind]
        with pytest.raises(TemporaryError):
            await venue.positions(ALICE)
        world.chain.fail_next = [{"code": -32005, "message": "Node is behind by 42 slots"}]  # solders panics
        with pytest.raises(TemporaryError):
            await venue.positions(ALICE)
        world.chain.fail_next = [behind, behind]
        policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, timeout=20)
        assert await with_retry(lambda: venue.positions(ALICE), policy) == []
        await venue.close()

    asyncio.run(go())


def test_a_missing_sub_account_or_market_is_a_configuration_error(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue()
        with pytest.raises(ConfigError, match="sub-account 9"):
            await venue.positions(AccountRef("alice", "drift", 9))
        await venue.close()
        partly = world.venue(markets={"SOL-PERP": 0, "XYZ-PERP": 40})  # market 40 is not on this chain
        assert await partly.mark_price(0) == D(100)
        assert await partly.mark_price(40) is None
        refused = await partly.place_bracket(replace(bracket(), symbol="XYZ-PERP", market_index=40))
        assert not refused.accepted
        assert "unknown market XYZ-PERP" in (refused.reason or "")
        await partly.close()
        nothing = world.venue(markets={"XYZ-PERP": 40})
        with pytest.raises(ConfigError, match="none of the configured perp markets"):
            await nothing.mark_price(40)

    asyncio.run(go())


def test_the_secret_key_never_appears_in_logs_or_reprs(
    world: DriftWorld, caplog: pytest.LogCaptureFixture
) -> None:
    secret = str(world.wallet)  # the base58 keypair
    # also: driftpy's mainnet lookup tables (the default) are missing on this node and left out
    settings = world.settings(keypair=SecretStr(secret), keypair_path=None, lookup_tables=None)
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        venue = DriftVenue(settings)
        await venue.place_bracket(bracket())
        assert venue.authority == world.wallet.pubkey()
        for text in (repr(settings), str(settings), repr(venue), settings.model_dump_json(), caplog.text):
            assert secret not in text
            assert secret[:20] not in text
        await venue.close()

    asyncio.run(go())
    with pytest.raises(ConfigError) as bad:
        DriftVenue(DriftSettings(keypair=SecretStr("not-a-key-" + secret[:30]), rpc_url=world.url))
    assert secret[:30] not in str(bad.value)


def test_another_program_id_state_seed_and_idl(tmp_path: Path) -> None:
    velocity = Pubkey.from_string("vELoC1audYbSYVRXn1vPaV8Axoa9oU6BYmNGZZBDZ1P")
    world = DriftWorld(program_id=velocity, state_seed="velocity_state")
    idl = tmp_path / "velocity.json"  # an IDL file of our own (the same layouts as the fake program's)
    idl.write_text(BUNDLED_IDL.read_text())
    try:

        async def go() -> None:
            venue = world.venue(idl_path=idl)
            placement = await venue.place_bracket(bracket())
            assert placement.accepted
            world.fill_market_orders(0)
            world.move(0, "111")
            events = await venue.events_since(ALICE, None)
            assert [(f.leg, f.price) for f in events.fills] == [
                (OrderLeg.ENTRY, D(100)),
                (OrderLeg.TAKE_PROFIT, D(110)),
            ]
            assert await venue.positions(ALICE) == []
            await venue.close()

        asyncio.run(go())
    finally:
        world.close()


def test_websocket_mode_pushes_fills_from_logs_subscribe(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue(subscription="websocket")
        pushed: list[VenueEvents] = []

        async def on_events(events: VenueEvents) -> None:
            pushed.append(events)

        subscription = venue.subscribe(ALICE, on_events)
        driver = DriftDriver(world, venue)
        await driver.caught_up()
        await venue.place_bracket(bracket())
        world.fill_market_orders(0)
        await driver.caught_up()
        assert [[f.leg for f in e.fills] for e in pushed] == [[OrderLeg.ENTRY]]
        assert world.chain.calls.get("logsSubscribe", 0) == 1  # the EventSubscriber's websocket log provider
        assert world.chain.calls.get("accountSubscribe", 0) >= 4  # driftpy's account subscriptions
        subscription.close()
        await venue.close()

    asyncio.run(go())


def test_position_details_by_driftpy_math(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue()
        await venue.place_bracket(bracket())
        world.fill_market_orders(0)  # 2 SOL at 100, fee 0.2, on 10,000 USDC: never liquidated
        world.set_price(0, "110")
        details = await venue.position_details(ALICE, 0)
        assert details["unrealizedPnl"] == D("19.8")  # 2 × 110 − 200 − 0.2
        assert details["unrealizedPnlWithFunding"] == D("19.8")
        assert details["liquidationPrice"] is None
        other = AccountRef("alice", "drift", 1)
        await venue.place_bracket(replace(bracket(size="500", account=other), trade_id="t2"))
        world.fill_market_orders(0)  # 500 SOL at 110 on 10,000 USDC (5.5x)
        liquidation = (await venue.position_details(other, 0))["liquidationPrice"]
        assert liquidation is not None
        assert D(90) < liquidation < D(100)  # 10,000 − 55 + 500 (p − 110) = 5 % × 500 p at p ≈ 94.85
        await venue.close()

    asyncio.run(go())


def test_the_sub_account_setting_picks_the_drift_sub_account(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue(sub_account=2)  # driftloop's sub-account 0 trades on Drift sub-account 2
        placement = await venue.place_bracket(bracket())
        assert placement.accepted
        assert [o.user_order_id for o in world.user(2).orders] == [1, 2, 3]
        assert world.user(0).orders == []
        assert venue.user_address(ALICE) == world.user(2).pubkey
        world.fill_market_orders(0)
        assert [(p.market_index, p.size) for p in await venue.positions(ALICE)] == [(0, D(2))]
        await venue.close()

    asyncio.run(go())


def test_cursors_of_an_account_without_history_and_malformed_ones(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue()
        empty = await venue.events_since(ALICE, None)  # nothing ever happened on the account
        assert (list(empty.fills), empty.cursor) == ([], "")
        assert (await venue.events_since(ALICE, empty.cursor)).cursor == ""
        await venue.place_bracket(bracket())
        world.fill_market_orders(0)
        assert [f.leg for f in (await venue.events_since(ALICE, "")).fills] == [OrderLeg.ENTRY]
        with pytest.raises(ValueError, match="cursor"):
            await venue.events_since(ALICE, "42")  # e.g. a paper venue's cursor
        await venue.close()

    asyncio.run(go())


def test_a_long_history_is_read_in_windows(world: DriftWorld) -> None:
    async def go() -> None:
        venue = world.venue(max_transactions_per_read=2)
        await venue.place_bracket(bracket())  # 1 transaction
        world.fill_market_orders(0)  # 2
        world.funding(0, 1_000_000)  # 3
        world.move(0, "94")  # 4: the stop
        legs: list[OrderLeg] = []
        funding, cursor, reads = 0, None, 0
        while True:
            events = await venue.events_since(ALICE, cursor)
            if events.cursor == cursor:
                break
            legs += [f.leg for f in events.fills]
            funding += len(events.funding)
            cursor, reads = events.cursor, reads + 1
        assert (legs, funding, reads) == ([OrderLeg.ENTRY, OrderLeg.STOP_LOSS], 1, 2)
        await venue.close()

    asyncio.run(go())
