"""Typed settings (DRIFTLOOP_ prefix), built once in bootstrap; nothing read at import time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

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
