"""The paper venue's replay engine: each analysis as an independent trade over candles.

Search in vectors, account in exact numbers: numpy finds the first candle where
any trigger may fire (float rounding is monotone, so the float search never
misses a touch; a float tie is re-checked exactly), then `domain.triggers`
decides in Decimal what fired and at which price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from driftloop.adapters.marketdata.series import CandleSeries, from_ms
from driftloop.domain.ids import signature_like
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    FundingPayment,
    OrderLeg,
    Side,
    TradeStatus,
)
from driftloop.domain.outcome import DEFAULT_BREAKEVEN_PCT, clip_exit_bar, compute_outcome
from driftloop.domain.pnl import funding_received, liquidation_price
from driftloop.domain.trade import AccountRef, OrderRecord, Trade
from driftloop.domain.triggers import (
    Bracket,
    Exit,
    entry_fill,
    liquidation_level,
    resolve_bar,
    time_limit_exit,
)

BPS = Decimal(10_000)
_LEG_OF_REASON = {
    ExitReason.STOP_LOSS: OrderLeg.STOP_LOSS,
    ExitReason.TAKE_PROFIT: OrderLeg.TAKE_PROFIT,
    ExitReason.TIME_LIMIT: OrderLeg.CLOSE,
    ExitReason.LIQUIDATION: OrderLeg.EXTERNAL,
    ExitReason.MANUAL: OrderLeg.EXTERNAL,
}
_FIRST_WINDOW = 64


@dataclass(frozen=True, slots=True)
class PaperParams:
    """Paper venue settings (Definitions: Paper fills 0)."""

    taker_fee_bps: Decimal = Decimal(10)
    slippage_bps: Decimal = Decimal(0)
    maintenance_margin_ratio: Decimal = Decimal("0.03")
    breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT

    @property
    def fee_rate(self) -> Decimal:
        return self.taker_fee_bps / BPS

    @property
    def slippage(self) -> Decimal:
        return self.slippage_bps / BPS


@dataclass(frozen=True, slots=True)
class _Position:
    side: Side
    index: int
    entry: Decimal
    size: Decimal
    bracket: Bracket


class ReplayEngine:
    """Simulates analyses against one market's candles (and optional funding)."""

    def __init__(
        self,
        series: CandleSeries,
        params: PaperParams,
        funding: Sequence[tuple[int, Decimal]] = (),
        account: AccountRef | None = None,
        run_id: str = "",
    ):
        self.series = series
        self.params = params
        self.account = account or AccountRef("replay")
        self.run_id = run_id
        self._funding_ts = np.array([t for t, _ in funding], dtype=np.int64)
        self._funding_rate = [rate for _, rate in funding]
        self._bar_ms = series.bar_ms

    # --- public -------------------------------------------------------------

    def simulate(self, analysis: Analysis, trade_id: str, market_index: int) -> Trade:
        """One analysis → a SKIPPED, OPEN or CLOSED trade with its fills and outcome."""
        trade = Trade(
            id=trade_id,
            account=self.account,
            analysis=analysis,
            run_id=self.run_id,
            status=TradeStatus.SKIPPED,
            market_index=market_index,
            side=analysis.side,
        )
        opened = self._open(analysis, trade)
        if opened is None:
            trade.learning_data = {"policy": "raw", "decision": "SKIP", "reason": trade.reason}
            return trade
        trade.learning_data = {"policy": "raw", "decision": "TAKE", "sizeMultiplier": 1}
        exit_index, exit_ = self._find_exit(analysis, opened)
        self._record(trade, analysis, opened, exit_index, exit_)
        return trade

    # --- entry ----------------------------------------------------------------

    def _skip(self, trade: Trade, reason: str) -> None:
        trade.status, trade.reason = TradeStatus.SKIPPED, reason

    def _open(self, analysis: Analysis, trade: Trade) -> _Position | None:
        side, s = analysis.side, self.series
        if side is None:
            self._skip(trade, "HOLD recommendation: nothing to trade")
            return None
        if s.symbol is not None and s.symbol != analysis.symbol:
            self._skip(trade, f"no market data for {analysis.symbol} (candles are {s.symbol})")
            return None
        t = int(analysis.timestamp.timestamp() * 1000)
        i = int(np.searchsorted(s.ts, t, side="left"))
        if i >= len(s) or int(s.ts[i]) - t > self._bar_ms:
            self._skip(
                trade, f"no market data: no candle within one bar after {analysis.timestamp.isoformat()}"
            )
            return None
        entry = entry_fill(side, s.open_at(i), self.params.slippage)
        # Rule 0 and 1: the stated entryPrice and the actual fill must both lie between stop and target.
        wrong = self._wrong_side(side, entry, analysis, "entry fill")
        if wrong is None and analysis.entry_price is not None:
            wrong = self._wrong_side(side, analysis.entry_price, analysis, "stated entryPrice")
        if wrong:
            self._skip(trade, wrong)
            return None
        liq = liquidation_price(side, entry, analysis.leverage, self.params.maintenance_margin_ratio)
        bracket = Bracket(
            side, analysis.stop_loss, analysis.take_profit, liquidation_level(side, liq), self.params.slippage
        )
        return _Position(side, i, entry, analysis.size_usd / entry, bracket)

    @staticmethod
    def _wrong_side(side: Side, entry: Decimal, a: Analysis, what: str) -> str | None:
        if side is Side.LONG:
            if a.stop_loss >= entry:
                return f"stop loss {a.stop_loss} is not below the long {what} {entry}"
            if a.take_profit <= entry:
                return f"take profit {a.take_profit} is not above the long {what} {entry}"
        else:
            if a.stop_loss <= entry:
                return f"stop loss {a.stop_loss} is not above the short {what} {entry}"
            if a.take_profit >= entry:
                return f"take profit {a.take_profit} is not below the short {what} {entry}"
        return None

    # --- exit -----------------------------------------------------------------

    def _find_exit(self, a: Analysis, p: _Position) -> tuple[int | None, Exit | None]:
        s = self.series
        limit = len(s)
        if a.max_hold_minutes is not None:
            deadline = int(s.ts[p.index]) + a.max_hold_minutes * 60_000
            limit = int(np.searchsorted(s.ts, deadline, side="left"))
        k = self._first_trigger(p, p.index, limit)
        if k is not None:
            exit_ = resolve_bar(p.bracket, s.open_at(k), s.high_at(k), s.low_at(k))
            return k, exit_
        if limit < len(s):
            return limit, time_limit_exit(p.side, s.open_at(limit), self.params.slippage)
        return None, None

    def _first_trigger(self, p: _Position, start: int, stop: int) -> int | None:
        """First candle in [start, stop) where a trigger fires, exactly."""
        s, b = self.series, p.bracket
        adverse, target = float(b.adverse_level), float(b.take_profit)
        i, width = start, _FIRST_WINDOW
        while i < stop:
            j = min(stop, i + width)
            if p.side is Side.LONG:
                hit = (s.low[i:j] <= adverse) | (s.high[i:j] >= target)
            else:
                hit = (s.high[i:j] >= adverse) | (s.low[i:j] <= target)
            candidates = np.flatnonzero(hit)
            for offset in candidates:
                k = i + int(offset)
                if resolve_bar(b, s.open_at(k), s.high_at(k), s.low_at(k)) is not None:
                    return k
            i, width = j, width * 4
        return None

    # --- accounting -----------------------------------------------------------

    def _record(self, trade: Trade, a: Analysis, p: _Position, k: int | None, exit_: Exit | None) -> None:
        s, fee_rate = self.series, self.params.fee_rate
        trade.status = TradeStatus.OPEN
        trade.size, trade.entry_price, trade.opened_at = p.size, p.entry, s.time_at(p.index)
        trade.drift_tx_id = signature_like(self.run_id, a.id, "entry")
        entry = Fill(
            fill_id=f"{trade.id}:{OrderLeg.ENTRY}",
            ts=s.time_at(p.index),
            side=p.side.entry_order_side,
            price=p.entry,
            size=p.size,
            fee=p.entry * p.size * fee_rate,
            leg=OrderLeg.ENTRY,
            reference_price=s.open_at(p.index),
            market_index=trade.market_index,
            order_id=f"{trade.id}:1",
        )
        trade.fills = [entry]
        trade.orders = self._orders(trade, a, exit_)
        if k is None or exit_ is None:
            return
        leg = _LEG_OF_REASON[exit_.reason]
        closing = Fill(
            fill_id=f"{trade.id}:{leg}",
            ts=s.time_at(k),
            side=p.side.exit_order_side,
            price=exit_.price,
            size=p.size,
            fee=exit_.price * p.size * fee_rate,
            leg=leg,
            cause=exit_.reason,
            reference_price=exit_.reference,
            market_index=trade.market_index,
        )
        trade.fills.append(closing)
        trade.funding = self._funding(trade.id, p, int(s.ts[k]))
        lowest, highest = self._extremes(p, k, exit_)
        trade.outcome = compute_outcome(
            a,
            trade.fills,
            trade.funding,
            closed_at=s.time_at(k),
            lowest=lowest,
            highest=highest,
            breakeven_pct=self.params.breakeven_pct,
        )
        trade.status = TradeStatus.CLOSED

    def _orders(self, trade: Trade, a: Analysis, exit_: Exit | None) -> list[OrderRecord]:
        tx = trade.drift_tx_id or ""
        fired = exit_.reason if exit_ else None

        def status(reason: ExitReason) -> str:
            if fired is None:
                return "OPEN"
            return "FILLED" if fired is reason else "CANCELED"

        return [
            OrderRecord(OrderLeg.ENTRY, f"{trade.id}:1", 1, None, tx, "FILLED"),
            OrderRecord(
                OrderLeg.STOP_LOSS, f"{trade.id}:2", 2, a.stop_loss, tx, status(ExitReason.STOP_LOSS)
            ),
            OrderRecord(
                OrderLeg.TAKE_PROFIT, f"{trade.id}:3", 3, a.take_profit, tx, status(ExitReason.TAKE_PROFIT)
            ),
        ]

    def _funding(self, trade_id: str, p: _Position, exit_ms: int) -> list[FundingPayment]:
        """Funding for each funding time t with entry time < t ≤ exit time."""
        if not len(self._funding_ts):
            return []
        s = self.series
        lo = int(np.searchsorted(self._funding_ts, int(s.ts[p.index]), side="right"))
        hi = int(np.searchsorted(self._funding_ts, exit_ms, side="right"))
        payments = []
        for j in range(lo, hi):
            t = int(self._funding_ts[j])
            bar = int(np.searchsorted(s.ts, t, side="right")) - 1
            rate = self._funding_rate[j]
            amount = funding_received(p.side, rate, p.size, s.open_at(bar))
            payments.append(FundingPayment(from_ms(t), rate, amount, payment_id=f"{trade_id}:F:{t}"))
        return payments

    def _extremes(self, p: _Position, k: int, exit_: Exit) -> tuple[Decimal, Decimal]:
        """Lowest low and highest high from the entry candle to the clipped exit candle."""
        s = self.series
        low, high = clip_exit_bar(p.side, exit_.reason, s.low_at(k), s.high_at(k), exit_.price)
        if k > p.index:
            i_low = p.index + int(np.argmin(s.low[p.index : k]))
            i_high = p.index + int(np.argmax(s.high[p.index : k]))
            low, high = min(low, s.low_at(i_low)), max(high, s.high_at(i_high))
        return low, high
