"""Rebuild trades from a Drift account's history of fills and funding (pure).

The history is a time-ordered stream of events per market: fills (the account as taker
or maker), funding payments and settle-PnL records. A trade opens when the position
leaves 0 and closes when it returns to 0; a fill that flips the position closes the
trade with the part that brings it to 0 and opens a new trade with the rest (sizes
split exactly, the fee pro rata, the closing part's fee rounded to 18 places and the
rest taking the remainder, so the parts always add up to the fee). Funding paid or
received while a trade is open belongs to it.

Imported trades had no AI analysis. They carry a stand-in `Analysis` fixed by the
opening fill (so every save of the trade writes the same one): analyst
`IMPORT_ANALYST`, side from the opening fill, no stated confidence (stored as the
neutral 50), stop and target at the opening fill price (no risk distance: the realized
R-multiple is null), leverage 1 (unknown), timeframe 1h (unknown); `raw` and the
trade's `learning_data` say so (`source: import`), so that learning and insights can
leave them out of the calibration of stated confidence while counting them in the
track record.

`HistoryBook` holds the open position of every market and can start from the open
trades stored by an earlier (possibly interrupted) import, so an import resumed later
ends with the same trades as one uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from driftloop.domain.ids import stable_id
from driftloop.domain.model import (
    Analysis,
    Fill,
    FundingPayment,
    OrderLeg,
    OrderSide,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.outcome import DEFAULT_BREAKEVEN_PCT, Outcome, compute_outcome
from driftloop.domain.pnl import weighted_average
from driftloop.domain.trade import AccountRef, Trade

IMPORT_ANALYST = "drift-import"
IMPORT_SOURCE = "import"
NO_CONFIDENCE = Decimal(50)  # stand-in for "no stated confidence" (the column is required)
QUANTUM = Decimal(1).scaleb(-18)  # amounts are carried to 18 decimal places, as stored
ZERO = Decimal(0)
REST_SUFFIX = ":rest"  # fill id of the part of a flipping fill that opens the next trade

FILL, FUNDING, SETTLE = 1, 0, 2  # order of kinds at one position in the stream (funding first)


def exact18(value: Decimal) -> Decimal:
    """`value` rounded half-even to 18 decimal places, without trailing zeros (as the store reads it)."""
    text = format(value.quantize(QUANTUM), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text if text not in ("", "-0", "-") else "0")


def fill_price(quote: Decimal, base: Decimal) -> Decimal:
    """Price of a fill: quote / base, to 18 decimal places."""
    return exact18(quote / base)


@dataclass(frozen=True, slots=True, order=True)
class EventKey:
    """Total order of the history: time, slot, transaction, index in it, kind, identity."""

    ts: datetime
    slot: int
    tx: str
    index: int
    kind: int
    ident: str

    def encode(self) -> list[Any]:
        return [int(self.ts.timestamp()), self.slot, self.tx, self.index, self.kind, self.ident]

    @classmethod
    def decode(cls, data: list[Any]) -> EventKey:
        ts, slot, tx, index, kind, ident = data
        return cls(
            datetime.fromtimestamp(int(ts), UTC), int(slot), str(tx), int(index), int(kind), str(ident)
        )


@dataclass(frozen=True, slots=True)
class HistoryFill:
    """One fill of the account. `reduced`: the venue says the fill reduced an existing
    position (None when it does not say); `flipped_base`: the size of the position the
    fill closed before flipping it, when the venue says so."""

    key: EventKey
    symbol: str
    fill: Fill
    reduced: bool | None = None
    flipped_base: Decimal | None = None


@dataclass(frozen=True, slots=True)
class HistoryFunding:
    """A funding payment on the account's position (`position` = signed base at that time)."""

    key: EventKey
    market_index: int
    payment: FundingPayment
    position: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SettleRecord:
    """A settle-PnL record: `pnl` moved from the position to the balance; `position` = base after."""

    key: EventKey
    market_index: int
    pnl: Decimal
    position: Decimal


HistoryEvent = HistoryFill | HistoryFunding | SettleRecord


@dataclass(frozen=True, slots=True)
class Issue:
    """Something in the history that does not add up (reported, never silently fixed)."""

    kind: str
    market_index: int
    ts: datetime
    detail: str


@dataclass(slots=True)
class SettleCheck:
    """Realized PnL of the trades closed since the market's last settlement made while flat."""

    comparable: bool = False
    realized: Decimal = ZERO

    def to_json(self) -> dict[str, Any]:
        return {"comparable": self.comparable, "realized": str(self.realized)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SettleCheck:
        return cls(bool(data["comparable"]), Decimal(str(data["realized"])))


@dataclass(slots=True)
class SettleTally:
    matched: int = 0
    mismatched: int = 0
    not_comparable: int = 0


@dataclass(slots=True)
class _Position:
    trade_id: str
    analysis: Analysis
    side: Side
    symbol: str
    market_index: int
    fills: list[Fill]
    funding: list[FundingPayment]
    tx: str | None  # the opening fill's transaction: the trade's `driftTxId`
    open_size: Decimal = ZERO

    def __post_init__(self) -> None:
        entry = self.side.entry_order_side
        self.open_size = sum((f.size if f.side is entry else -f.size for f in self.fills), ZERO)

    @property
    def signed(self) -> Decimal:
        return self.open_size * self.side.sign


def import_trade_id(user_id: str, account_key: str, market_index: int, opening: Fill) -> str:
    """Deterministic id of an imported trade: the account and its opening fill's identity."""
    return stable_id("trd", "import", user_id, account_key, str(market_index), opening.fill_id, opening.role)


def import_analysis(account_key: str, symbol: str, opening: Fill) -> Analysis:
    """The stand-in analysis of an imported trade (see the module docstring), fixed by its opening fill."""
    side = Side.LONG if opening.side is OrderSide.BUY else Side.SHORT
    return Analysis(
        id=f"import:{account_key}:{opening.fill_id}",
        timestamp=opening.ts,
        symbol=symbol,
        timeframe=Timeframe.H1,
        prediction=Prediction.BULLISH if side is Side.LONG else Prediction.BEARISH,
        confidence=NO_CONFIDENCE,
        recommendation=Recommendation.BUY if side is Side.LONG else Recommendation.SELL,
        stop_loss=opening.price,
        take_profit=opening.price,
        size_usd=exact18(opening.notional),
        analyst=IMPORT_ANALYST,
        reasoning="Imported from the venue's trade history: no analysis, confidence, stop or target stated.",
        raw={
            "source": IMPORT_SOURCE,
            "account": account_key,
            "statedConfidence": None,
            "stopLoss": None,
            "takeProfit": None,
            "leverage": None,
            "timeframe": None,
        },
    )


def is_imported(trade: Trade, account_key: str | None = None) -> bool:
    """Whether the trade was made by a history import (of that account, if given)."""
    raw = trade.analysis.raw
    if trade.analysis.analyst != IMPORT_ANALYST or not isinstance(raw, dict):
        return False
    return raw.get("source") == IMPORT_SOURCE and (account_key is None or raw.get("account") == account_key)


def _split(fill: Fill, first: Decimal) -> tuple[Fill, Fill]:
    """The fill cut into `first` and the rest: sizes exact, fee pro rata (the parts add up to the fee)."""
    fee_first = exact18(fill.fee * first / fill.size)
    head = replace(fill, size=first, fee=fee_first)
    tail = replace(fill, size=fill.size - first, fee=fill.fee - fee_first, fill_id=fill.fill_id + REST_SUFFIX)
    return head, tail


@dataclass
class HistoryBook:
    """Open positions per market of one account, advanced event by event.

    `touched()` returns (and forgets) the trades changed since the last call: CLOSED
    ones with their outcome and the still OPEN ones as they stand, ready to store.
    """

    account: AccountRef
    account_key: str
    breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT
    positions: dict[int, _Position] = field(default_factory=dict)
    settle: dict[int, SettleCheck] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    tally: SettleTally = field(default_factory=SettleTally)
    closed_count: int = 0
    foreign: frozenset[tuple[int, str, str]] = frozenset()  # (market, fill id, role) of fills not ours
    _touched: dict[str, _Position | Trade] = field(default_factory=dict)

    @classmethod
    def resume(
        cls,
        account: AccountRef,
        account_key: str,
        open_trades: Iterable[Trade],
        settle: Mapping[int, SettleCheck] | None = None,
        breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT,
    ) -> HistoryBook:
        """A book holding the OPEN trades an earlier import of this account stored."""
        book = cls(account, account_key, breakeven_pct, settle=dict(settle or {}))
        for trade in open_trades:
            if (
                trade.status is not TradeStatus.OPEN
                or trade.side is None
                or not is_imported(trade, account_key)
            ):
                continue
            book.positions[trade.market_index] = _Position(
                trade.id,
                trade.analysis,
                trade.side,
                trade.analysis.symbol,
                trade.market_index,
                list(trade.fills),
                list(trade.funding),
                trade.drift_tx_id,
            )
        return book

    # --- events --------------------------------------------------------------

    def apply(self, event: HistoryEvent) -> None:
        if isinstance(event, HistoryFill):
            self._fill(event)
        elif isinstance(event, HistoryFunding):
            self._funding(event)
        else:
            self._settle(event)

    def _issue(self, kind: str, market: int, ts: datetime, detail: str) -> None:
        self.issues.append(Issue(kind, market, ts, detail))

    def _fill(self, event: HistoryFill) -> None:
        fill, market = event.fill, event.fill.market_index
        if (market, fill.fill_id, fill.role) in self.foreign:
            # A trade of the live loop holds this fill already: it is neither imported again nor
            # moved; the position it opened or closed is that trade's.
            self._issue(
                "fill-of-live-trade", market, fill.ts, f"fill {fill.fill_id}: already stored (skipped)"
            )
            return
        position = self.positions.get(market)
        if position is None:
            self._from_flat(event)
            return
        if fill.side is position.side.entry_order_side:
            if event.reduced:
                self._issue(
                    "fill-direction", market, fill.ts, f"fill {fill.fill_id}: the venue says it reduced"
                )
            position.fills.append(replace(fill, leg=OrderLeg.ENTRY))
            position.open_size += fill.size
            self._keep(position)
            return
        if event.reduced is False:
            self._issue(
                "fill-direction", market, fill.ts, f"fill {fill.fill_id}: the venue says it did not reduce"
            )
        open_size = position.open_size
        # An exit we did not order has no reference price (as the venue adapter records it).
        if fill.size < open_size:
            position.fills.append(replace(fill, leg=OrderLeg.EXTERNAL, reference_price=None))
            position.open_size -= fill.size
            self._keep(position)
            return
        closing, rest = (fill, None) if fill.size == open_size else _split(fill, open_size)
        position.fills.append(replace(closing, leg=OrderLeg.EXTERNAL, reference_price=None))
        position.open_size = ZERO
        self._close(position, closing)
        if rest is not None:
            self._open(event.symbol, replace(rest, cause=None), event.key.tx)

    def _from_flat(self, event: HistoryFill) -> None:
        fill, market = event.fill, event.fill.market_index
        if not event.reduced:
            self._open(event.symbol, fill, event.key.tx)
            return
        # The fill reduced a position opened before the imported history: its entry is unknown.
        if event.flipped_base is not None and 0 < event.flipped_base < fill.size:
            before, rest = _split(fill, event.flipped_base)
            self._issue(
                "opened-before-history",
                market,
                fill.ts,
                f"fill {fill.fill_id}: {before.size} closed a position opened before the history (skipped)",
            )
            self._open(event.symbol, replace(rest, cause=None), event.key.tx)
            return
        self._issue(
            "opened-before-history",
            market,
            fill.ts,
            f"fill {fill.fill_id}: reduced a position opened before the history (skipped)",
        )

    def _open(self, symbol: str, fill: Fill, tx: str) -> None:
        analysis = import_analysis(self.account_key, symbol, fill)
        side = analysis.side
        assert side is not None
        position = _Position(
            import_trade_id(self.account.user_id, self.account_key, fill.market_index, fill),
            analysis,
            side,
            symbol,
            fill.market_index,
            [replace(fill, leg=OrderLeg.ENTRY)],
            [],
            tx or None,
        )
        self.positions[fill.market_index] = position
        self._keep(position)

    def _funding(self, event: HistoryFunding) -> None:
        position = self.positions.get(event.market_index)
        held = position.signed if position is not None else ZERO
        if event.position is not None and event.position != held:
            self._issue(
                "position-mismatch",
                event.market_index,
                event.payment.ts,
                f"funding {event.payment.payment_id}: the venue's position {event.position}, rebuilt {held}",
            )
        if position is None:
            self._issue(
                "funding-unattributed",
                event.market_index,
                event.payment.ts,
                f"funding {event.payment.payment_id} ({event.payment.amount}) with no imported trade open",
            )
            return
        position.funding.append(event.payment)
        self._keep(position)

    def _settle(self, event: SettleRecord) -> None:
        check = self.settle.setdefault(event.market_index, SettleCheck())
        flat = event.market_index not in self.positions and event.position == 0
        if flat and check.comparable:
            if event.pnl == check.realized:
                self.tally.matched += 1
            else:
                self.tally.mismatched += 1
                self._issue(
                    "settle-pnl-mismatch",
                    event.market_index,
                    event.key.ts,
                    f"settled {event.pnl}, imported trades realized {check.realized} since the last one",
                )
        else:
            self.tally.not_comparable += 1
        # From a settlement made while flat on, realized PnL adds up to the next settlement.
        self.settle[event.market_index] = SettleCheck(comparable=flat, realized=ZERO)

    # --- trades --------------------------------------------------------------

    def _trade(self, position: _Position, status: TradeStatus, outcome: Outcome | None) -> Trade:
        entries = [f for f in position.fills if f.side is position.side.entry_order_side]
        avg = weighted_average(entries)
        return Trade(
            id=position.trade_id,
            account=self.account,
            analysis=position.analysis,
            run_id="",
            status=status,
            market_index=position.market_index,
            side=position.side,
            size=sum((f.size for f in entries), ZERO),
            entry_price=None if avg is None else exact18(avg),
            opened_at=position.fills[0].ts,
            drift_tx_id=position.tx,
            outcome=outcome,
            fills=list(position.fills),
            funding=list(position.funding),
            learning_data={"source": IMPORT_SOURCE, "statedConfidence": None, "account": self.account_key},
        )

    def _keep(self, position: _Position) -> None:
        self._touched[position.trade_id] = position  # made a Trade when asked for (a fill costs O(1))

    def _close(self, position: _Position, closing: Fill) -> None:
        prices = [f.price for f in position.fills]
        outcome = compute_outcome(
            position.analysis,
            position.fills,
            position.funding,
            closed_at=closing.ts,
            lowest=min(prices),
            highest=max(prices),
            breakeven_pct=self.breakeven_pct,
        )
        # No stop, target or confidence was stated: no R-multiple, no price accuracy.
        outcome = replace(
            outcome,
            entry_price=exact18(outcome.entry_price),
            exit_price=exact18(outcome.exit_price),
            actual_rr=None,
            price_accuracy=ZERO,
            accuracy_score=ZERO,
        )
        del self.positions[position.market_index]
        check = self.settle.get(position.market_index)
        if check is not None:
            check.realized += outcome.pnl_usd
        self.closed_count += 1
        self._touched[position.trade_id] = self._trade(position, TradeStatus.CLOSED, outcome)

    def touched(self) -> list[Trade]:
        """The trades changed since the last call (in the order they were first changed)."""
        touched, self._touched = self._touched, {}
        return [
            self._trade(item, TradeStatus.OPEN, None) if isinstance(item, _Position) else item
            for item in touched.values()
        ]

    def open_trade_count(self) -> int:
        return len(self.positions)
