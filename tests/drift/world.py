"""A fake Drift deployment for tests: program, markets, a funded wallet with sub-accounts, the RPC server.

`DriftWorld` owns the server thread; `venue()` builds a `DriftVenue` pointed at it (polling, fast
frequencies, no lookup tables). Helpers move the market the way keepers and the outside world would.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from drift.codec import DriftCodec
from drift.fake_drift import PRICE, FakeDrift, SimUser
from drift.fake_rpc import FakeSolana
from driftloop.adapters.venues.drift.venue import DriftVenue
from driftloop.config import DriftSettings
from driftloop.services.ports import Clock

DRIFT_V2 = Pubkey.from_string("dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH")
MARKETS = {0: ("SOL-PERP", "100"), 1: ("BTC-PERP", "50000"), 2: ("ETH-PERP", "100")}


def price_int(price: str | Decimal) -> int:
    return int(Decimal(price) * PRICE)


class DriftWorld:
    """One fake chain with the Drift program, a wallet and its sub-accounts 0..`sub_accounts`-1."""

    def __init__(
        self,
        *,
        program_id: Pubkey = DRIFT_V2,
        state_seed: str = "drift_state",
        sub_accounts: int = 3,
        seed: int = 7,
    ) -> None:
        self.codec = DriftCodec()
        self.program_id, self.state_seed = program_id, state_seed
        self.drift = FakeDrift(self.codec, program_id, MARKETS, state_seed)
        self.wallet = Keypair.from_seed(bytes([seed]) * 32)
        self.users = {n: self.drift.add_user(self.wallet.pubkey(), n) for n in range(sub_accounts)}
        self.chain = FakeSolana(self.drift)
        self.chain.refresh()
        self.url = self.chain.start()
        self._dir = tempfile.TemporaryDirectory(prefix="driftloop-wallet-")
        self.keypair_path = Path(self._dir.name) / "id.json"
        self.keypair_path.write_text(json.dumps(list(bytes(self.wallet))))

    def settings(self, **overrides: object) -> DriftSettings:
        values: dict[str, object] = {
            "rpc_url": self.url,
            "keypair_path": self.keypair_path,
            "subscription": "polling",
            "poll_interval_seconds": 0.05,
            "lookup_tables": [],
            "markets": {name: index for index, (name, _) in MARKETS.items()},
            "program_id": str(self.program_id),
            "state_seed": self.state_seed,
        }
        values.update(overrides)
        return DriftSettings.model_validate(values)

    def venue(self, clock: Clock | None = None, **overrides: object) -> DriftVenue:
        return DriftVenue(self.settings(**overrides), clock)

    def close(self) -> None:
        self.chain.stop()
        self._dir.cleanup()

    # --- the market ----------------------------------------------------------------------------------

    def user(self, sub_account: int = 0) -> SimUser:
        return self.users[sub_account]

    def fill_market_orders(self, market: int) -> list[str]:
        with self.chain.lock:
            return self.chain.apply(self.drift.fill_market_orders(market))

    def move(self, market: int, price: str, *, gap: bool = False) -> list[str]:
        """Move the oracle; trigger orders it crosses fire and fill (one transaction each)."""
        with self.chain.lock:
            sigs = self.chain.apply(self.drift.move_oracle(market, price_int(price), gap=gap))
            self.chain.refresh()
            return sigs

    def advance(self, seconds: int) -> None:
        with self.chain.lock:
            self.drift.now += seconds

    def funding(self, market: int, delta: int) -> list[str]:
        with self.chain.lock:
            return self.chain.apply(self.drift.settle_funding(market, delta))

    def close_by_hand(self, sub_account: int, market: int) -> str:
        with self.chain.lock:
            return self.chain.record(self.drift.close_by_hand(self.user(sub_account), market))

    def liquidate(self, sub_account: int, market: int, fee_bps: int = 100, if_fee_bps: int = 0) -> str:
        with self.chain.lock:
            effect = self.drift.liquidate(self.user(sub_account), market, fee_bps, if_fee_bps)
            return self.chain.record(effect)

    def set_price(self, market: int, price: str) -> None:
        """Set the oracle without firing anything (the instant a bar opens)."""
        with self.chain.lock:
            self.drift.markets[market].price = price_int(price)
            self.chain.refresh()
