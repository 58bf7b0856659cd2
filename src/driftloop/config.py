"""Typed settings (DRIFTLOOP_ prefix), built once in bootstrap; nothing read at import time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_", extra="ignore")

    database_url: str = "sqlite:///driftloop.db"
    database_schema: str | None = None
    venue: str = "paper"
    host: str = "127.0.0.1"
    port: int = 3000
    api_token: SecretStr | None = None
    # a file holding the API token (read if it exists; `driftloop serve` on a loopback address writes a
    # generated token there, mode 0600, when no token is configured)
    api_token_file: Path | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)  # larger bodies: 413
    taker_fee_bps: Decimal = Field(default=Decimal(10), ge=0, le=1000)
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000)
    maintenance_margin_ratio: Decimal = Field(default=Decimal("0.03"), gt=0, lt=1)
    breakeven_pct: Decimal = Field(default=Decimal("0.05"), ge=0, le=100)
    # FastAPI's native OpenTelemetry spans and metrics. Off by default: driftloop exports its own
    # Prometheus metrics, and FastAPI looking up the OTel providers on every request cost ~13 % of a GET.
    otel_telemetry: bool = False


class DriftSettings(BaseSettings):
    """The live Drift venue (`DRIFTLOOP_VENUE=drift`), DRIFTLOOP_DRIFT_ prefix; needs `driftloop[drift]`.

    The wallet is a keypair file (`KEYPAIR_PATH`) or the key itself (`KEYPAIR`: a JSON byte array or
    base58), a secret never logged, stored or returned. `PROGRAM_ID`, `IDL_PATH` and `STATE_SEED` point
    the venue at another deployment of the program (e.g. a Velocity-compatible one); the defaults are
    Drift v2 as bundled in driftpy.
    """

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_DRIFT_", extra="ignore")

    rpc_url: str = "https://api.mainnet-beta.solana.com"
    keypair_path: Path | None = None
    keypair: SecretStr | None = None
    # the wallet's Drift sub-account that driftloop's sub-account 0 trades on (sub-account n: SUB_ACCOUNT + n)
    sub_account: int = Field(default=0, ge=0, le=65535)
    env: Literal["mainnet", "devnet"] = "mainnet"
    program_id: str = "dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH"
    idl_path: Path | None = None  # None: driftpy's bundled Drift v2 IDL
    state_seed: str = "drift_state"  # Velocity: "velocity_state"
    markets: dict[str, int] = Field(default_factory=lambda: {"SOL-PERP": 0, "BTC-PERP": 1, "ETH-PERP": 2})
    # polling works with any JSON-RPC node; websocket needs the node's pubsub endpoint (driftpy: port + 1)
    subscription: Literal["websocket", "polling"] = "polling"
    poll_interval_seconds: float = Field(default=1.0, gt=0)  # account polling and the polling log provider
    lookup_tables: list[str] | None = None  # address lookup tables; None: driftpy's for `env`
    commitment: Literal["confirmed", "finalized"] = "confirmed"
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # transactions one events_since reads at most (oldest first; the rest comes with the next read), so that
    # the first read of a long account history fits in a monitor cycle's timeout
    max_transactions_per_read: int = Field(default=250, ge=1)
