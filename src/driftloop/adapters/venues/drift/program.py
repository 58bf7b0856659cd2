"""Building driftpy's `DriftClient` for a configured program id, IDL and state seed.

driftpy hardcodes Drift v2: `DRIFT_PROGRAM_ID` in `driftpy/constants/config.py` (imported by value into
`driftpy/drift_client.py`), the log parser's `DRIFT_PROGRAM_ID`/`DRIFT_PROGRAM_START` in
`driftpy/events/parse.py`, the bundled `idl/drift.json`, and the `b"drift_state"` seed of the State PDA
in `driftpy/addresses.py` (whose `get_state_public_key` five modules import by name). `DriftClient` has
no program id argument. `use_program` below is the one place that re-points those module constants
(process-wide: one program per process); `build_client` then swaps in the configured IDL. With the
defaults nothing changes.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import driftpy
import driftpy.addresses
import driftpy.constants.config
import driftpy.drift_client
import driftpy.events.parse
from anchorpy import Idl, Program, Provider, Wallet
from driftpy.account_subscription_config import AccountSubscriptionConfig
from driftpy.accounts.bulk_account_loader import BulkAccountLoader
from driftpy.addresses import get_perp_market_public_key, get_spot_market_public_key
from driftpy.drift_client import DriftClient
from driftpy.types import OracleInfo, TxParams
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solana.rpc.types import TxOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from driftloop.config import DriftSettings
from driftloop.domain.errors import ConfigError

log = logging.getLogger(__name__)
BUNDLED_IDL = Path(next(iter(driftpy.__path__))) / "idl" / "drift.json"
QUOTE_SPOT_MARKET = 0


def load_wallet(settings: DriftSettings) -> Keypair:
    """The signing keypair, from `keypair` (JSON byte array or base58) or the file at `keypair_path`.

    Errors name the source, never the content."""
    if settings.keypair is not None:
        secret, source = settings.keypair.get_secret_value(), "DRIFTLOOP_DRIFT_KEYPAIR"
    elif settings.keypair_path is not None:
        try:
            secret, source = settings.keypair_path.read_text().strip(), str(settings.keypair_path)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Drift keypair file {settings.keypair_path}: {exc.strerror}"
            ) from None
    else:
        raise ConfigError(
            "the Drift venue needs a wallet: set DRIFTLOOP_DRIFT_KEYPAIR_PATH or DRIFTLOOP_DRIFT_KEYPAIR"
        )
    try:
        if secret.startswith("["):
            return Keypair.from_bytes(bytes(json.loads(secret)))
        return Keypair.from_base58_string(secret)
    except Exception:
        raise ConfigError(f"{source} does not hold a Solana keypair (64-byte JSON array or base58)") from None


def use_program(program_id: Pubkey, state_seed: str) -> None:
    """Point driftpy's hardcoded Drift v2 constants at `program_id` (see the module docstring)."""
    pid = str(program_id)
    driftpy.constants.config.DRIFT_PROGRAM_ID = program_id
    driftpy.drift_client.DRIFT_PROGRAM_ID = program_id  # read by DriftClient.__init__
    driftpy.events.parse.DRIFT_PROGRAM_ID = pid  # read by parse_logs at call time
    driftpy.events.parse.DRIFT_PROGRAM_START = f"Program {pid} invoke"
    seed = state_seed.encode()

    def state_public_key(program: Pubkey) -> Pubkey:
        return Pubkey.find_program_address([seed], program)[0]

    for module in _STATE_KEY_USERS:  # each imported the function by name
        setattr(importlib.import_module(module), "get_state_public_key", state_public_key)  # noqa: B010


_STATE_KEY_USERS = (
    "driftpy.addresses",
    "driftpy.drift_client",
    "driftpy.accounts.get_accounts",
    "driftpy.accounts.polling.drift_client",
    "driftpy.accounts.ws.drift_client",
)


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What the venue keeps of a perp market: its oracle and sizes (read once at connection)."""

    index: int
    oracle: Pubkey
    oracle_source: Any
    step_size: int
    tick_size: int


def load_idl(settings: DriftSettings) -> Idl:
    path = settings.idl_path or BUNDLED_IDL
    try:
        return Idl.from_json(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the program IDL {path}: {exc.strerror}") from None


async def read_markets(
    program: Program, connection: AsyncClient, indexes: list[int]
) -> dict[int, MarketInfo]:
    """The configured perp markets and quote spot market 0, as the chain holds them (their oracles
    are taken from the accounts, so another deployment needs no oracle configuration). A configured
    perp market the program does not have is left out (trades in it are rejected) with a warning."""
    pid = program.program_id
    keys = [get_perp_market_public_key(pid, i) for i in indexes] + [get_spot_market_public_key(pid, 0)]
    state = importlib.import_module("driftpy.addresses").get_state_public_key(pid)  # as use_program set it
    resp = await connection.get_multiple_accounts([*keys, state])
    if resp.value[-1] is None:  # driftpy's polling subscribe would wait for it forever
        raise ConfigError(
            f"the State account {state} of program {pid} does not exist (program id or state seed?)"
        )
    markets: dict[int, MarketInfo] = {}
    for index, account in zip([*indexes, -1], resp.value[:-1], strict=True):
        if account is None and index >= 0:
            log.warning("perp market %d does not exist for program %s: not traded", index, pid)
            continue
        if account is None:
            raise ConfigError(f"spot market 0 (quote) does not exist for program {pid} on this RPC node")
        decoded = program.coder.accounts.decode(bytes(account.data))
        if index >= 0:
            amm = decoded.amm
            markets[index] = MarketInfo(
                index,
                amm.oracle,
                amm.oracle_source,
                int(amm.order_step_size) or 1,
                int(amm.order_tick_size) or 1,
            )
        else:
            markets[-1] = MarketInfo(0, decoded.oracle, decoded.oracle_source, 1, 1)
    if len(markets) == 1:
        raise ConfigError(f"none of the configured perp markets {indexes} exists for program {pid}")
    return markets


async def existing_lookup_tables(connection: AsyncClient, tables: list[Pubkey]) -> list[Pubkey]:
    """The address lookup tables that exist on this node (a test validator or another deployment may
    lack driftpy's mainnet ones; transactions then go without them)."""
    if not tables:
        return []
    resp = await connection.get_multiple_accounts(tables)
    found = [t for t, account in zip(tables, resp.value, strict=True) if account is not None]
    if len(found) < len(tables):
        log.warning("lookup tables %s not found: not used", [str(t) for t in tables if t not in found])
    return found


def build_client(
    settings: DriftSettings,
    wallet: Keypair,
    connection: AsyncClient,
    idl: Idl,
    markets: dict[int, MarketInfo],
) -> DriftClient:
    """A DriftClient for the configured program (after `use_program`), IDL, markets and subscription."""
    commitment = Commitment(settings.commitment)
    if settings.subscription == "polling":
        loader = BulkAccountLoader(connection, commitment, settings.poll_interval_seconds)
        subscription = AccountSubscriptionConfig("polling", bulk_account_loader=loader, commitment=commitment)
    else:
        subscription = AccountSubscriptionConfig("websocket", commitment=commitment)
    perp = sorted(i for i in markets if i >= 0)
    oracles = {str(m.oracle): OracleInfo(m.oracle, m.oracle_source) for m in markets.values()}
    lookup = (
        None if settings.lookup_tables is None else [Pubkey.from_string(k) for k in settings.lookup_tables]
    )
    client = DriftClient(
        connection,
        Wallet(wallet),
        env=settings.env,
        opts=TxOpts(skip_confirmation=False, preflight_commitment=commitment),
        account_subscription=subscription,
        perp_market_indexes=perp,
        spot_market_indexes=[QUOTE_SPOT_MARKET],
        oracle_infos=list(oracles.values()),
        tx_params=TxParams(600_000, 0),
        sub_account_ids=[],
        market_lookup_tables=lookup,
    )
    if settings.idl_path is not None:  # the configured IDL replaces the bundled one, before subscribing
        client.program = Program(
            idl, client.program_id, Provider(connection, Wallet(wallet), client.program.provider.opts)
        )
        client.account_subscriber = subscription.get_drift_client_subscriber(
            client.program, perp, [QUOTE_SPOT_MARKET], list(oracles.values())
        )
    return client
