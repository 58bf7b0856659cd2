"""Drift perp markets: symbol ↔ market index (mainnet, as listed by driftpy's constants)."""

from __future__ import annotations

_MAINNET = [
    "SOL",
    "BTC",
    "ETH",
    "APT",
    "1MBONK",
    "MATIC",
    "ARB",
    "DOGE",
    "BNB",
    "SUI",
    "1MPEPE",
    "OP",
    "RNDR",
    "XRP",
    "HNT",
    "INJ",
    "LINK",
    "RLB",
    "PYTH",
    "TIA",
    "JTO",
    "SEI",
    "AVAX",
    "WIF",
    "JUP",
    "DYM",
    "TAO",
    "W",
    "KMNO",
    "TNSR",
    "DRIFT",
    "CLOUD",
    "IO",
    "ZEX",
    "POPCAT",
    "1KWEN",
]

PERP_MARKETS: dict[str, int] = {f"{base}-PERP": index for index, base in enumerate(_MAINNET)}


class UnknownMarketError(ValueError):
    pass


def market_index(symbol: str) -> int:
    """Market index of a perp symbol such as `SOL-PERP`."""
    try:
        return PERP_MARKETS[symbol.upper()]
    except KeyError:
        raise UnknownMarketError(f"unknown Drift perp market {symbol!r} (e.g. SOL-PERP, BTC-PERP)") from None


def base_asset_of(name: str) -> str:
    """The base asset in a market name: `SOL-PERP`, `SOL/USDT:USDT`, `SOL_USDT_PERP` → `SOL`."""
    for sep in "/-_:. ":
        name = name.replace(sep, " ")
    parts = name.split()
    return parts[0].upper() if parts else ""
