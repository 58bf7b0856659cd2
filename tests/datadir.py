"""Where the shared real market data lives (never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DRIFTLOOP_DATA_DIR") or ROOT.parent / "shared" / "data")
SKIP_REASON = (
    f"real market data not found at {SHARED_DATA} (set DRIFTLOOP_DATA_DIR or provide ../shared/data)"
)


def data_file(name: str) -> Path:
    return SHARED_DATA / name


def has_data(name: str = "SOL_USDT_PERP_binance_5m.csv.gz") -> bool:
    return data_file(name).is_file()
