"""Drift Data API adapter: paginated per-account history (fills, funding, settle PnL)."""
