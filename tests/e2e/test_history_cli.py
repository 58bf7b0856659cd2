"""`driftloop import-history` end to end: CLI → Data API stub on 127.0.0.1 → database.

A real-data-shaped round trip (the recorded real fill opens the trade), idempotency (the
database dump is identical after a second import), resume after an interruption, bad
options and bad records (exit 2, nothing written), a lasting HTTP fault (exit 1).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from driftloop.adapters.db import tables
from driftloop.adapters.db.engine import make_engine
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.model import ExitReason, OutcomeClass, Side, TradeStatus
from driftloop.entrypoints.cli import app
from history_stub import DataApiStub, Fault, fill_record, funding_record, recorded_fill, serve, settle_record
from loop_harness import snapshot, snapshot_diff

TAKER = "4giLmCjex6SvXtC1rx38gxqKgsmw2kNrEuYeRA4En1kq"  # the taker of the recorded real fill


def real_history() -> DataApiStub:
    """The recorded real BTC-PERP fill (the account is its taker: long 0.001 @ 68,936.1, fee 0.048256),
    a real-shaped funding payment and a synthetic close an hour later, then a settlement while flat."""
    opening = recorded_fill()
    if opening is None:
        pytest.skip("recorded Data API responses not found in ../shared/data/drift-data-api")
    ts = int(opening["ts"])
    stub = DataApiStub()
    stub.add("settlePnl", settle_record(ts - 60, "0.000000", market=1), account=TAKER)
    stub.add("trades", opening, account=TAKER)
    stub.add(
        "fundingPayments", funding_record(ts + 1800, "-0.000150", "0.001000000", market=1), account=TAKER
    )
    closing = fill_record(7062999, ts + 3600, side="short", base="0.001000000", quote="69.500000",
                          fee="0.048650", market=1, symbol="BTC-PERP", reduced_entry="68.936100")  # fmt: skip
    stub.add("trades", closing, account=TAKER)
    stub.add("settlePnl", settle_record(ts + 3700, "0.466844", market=1), account=TAKER)
    return stub


def invoke(stub: DataApiStub, db: str, *extra: str) -> tuple[int, str]:
    args = ["import-history", "--user", "trader", "--account", TAKER, "--api-url", stub.url, "--db", db]
    result = CliRunner().invoke(app, [*args, *extra])
    return result.exit_code, result.output + (result.stderr or "")


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
            for t in tables.metadata.sorted_tables
        }


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


def test_real_data_round_trip_exact_and_a_second_import_changes_nothing(db: str) -> None:
    with serve(real_history()) as stub:
        code, output = invoke(stub, db, "--json")
        assert code == 0, output
        summary = json.loads(output[output.index("{") :])
        assert summary["newFills"] == 2 and summary["tradesClosed"] == 1 and summary["tradesOpen"] == 0
        assert summary["settlePnlCheck"] == {"matched": 1, "mismatched": 0, "notComparable": 1}
        engine = make_engine(db)
        with SqlUnitOfWork(engine) as uow:
            (trade,) = uow.trades.live_trades("trader")
        o = trade.outcome
        assert trade.status is TradeStatus.CLOSED and o is not None and trade.side is Side.LONG
        assert trade.market_index == 1 and trade.analysis.symbol == "BTC-PERP"
        # (69.5 − 68.9361) − (0.048256 + 0.04865) − 0.00015
        assert o.entry_price == Decimal("68936.1") and o.exit_price == Decimal(69500)
        assert o.fees_usd == Decimal("0.096906") and o.funding_usd == Decimal("-0.00015")
        assert o.pnl_usd == Decimal("0.466844") and o.outcome is OutcomeClass.WIN
        assert o.pnl_percent == (Decimal("0.466844") / Decimal("68.9361") * 100).quantize(Decimal("1e-18"))
        assert o.exit_reason is ExitReason.MANUAL and o.actual_rr is None
        # entry slippage against the oracle at the fill (favourable: negative), none on an exit by hand
        oracle = Decimal("68941.288473")
        expected = ((Decimal("68936.1") - oracle) / oracle * 10000).quantize(Decimal("1e-18"))
        assert o.entry_slippage_bps == expected and o.exit_slippage_bps == 0
        assert trade.drift_tx_id == recorded_fill()["txSig"]  # type: ignore[index]
        assert [f.fill_id for f in trade.fills] == ["drift:1:7062235:taker", "drift:1:7062999:taker"]
        before = dump(engine)
        code, output = invoke(stub, db)
        assert code == 0, output
        assert "nothing new" in output
        assert dump(engine) == before
        engine.dispose()


def synthetic(n: int = 60) -> DataApiStub:
    stub = DataApiStub()
    ts = 1_770_000_000
    for i in range(n):
        side, other = ("long", "short") if i % 2 == 0 else ("short", "long")
        price = Decimal(100) + i
        quote = f"{price * Decimal('1.5'):.6f}"
        stub.add("trades", fill_record(2 * i + 1, ts, side=side, base="1.5", quote=quote, fee="0.052500"),
                 account=TAKER)  # fmt: skip
        stub.add("fundingPayments", funding_record(ts + 30, "0.001000", "1.5" if side == "long" else "-1.5"),
                 account=TAKER)  # fmt: skip
        stub.add("trades", fill_record(2 * i + 2, ts + 60, side=other, base="1.5",
                                       quote=f"{(price + 1) * Decimal('1.5'):.6f}", fee="0.052500",
                                       reduced_entry="1"), account=TAKER)  # fmt: skip
        ts += 120
    return stub


def test_an_interrupted_import_resumes_to_the_same_database(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    with serve(synthetic()) as stub:
        assert invoke(stub, reference, "--batch-size", "25")[0] == 0
        commits = {"n": 0}
        original = SqlUnitOfWork.commit

        def killed_after_two(self: SqlUnitOfWork) -> None:
            if commits["n"] == 2:
                raise KeyboardInterrupt  # as if the process were stopped mid-import
            commits["n"] += 1
            original(self)

        monkeypatch.setattr(SqlUnitOfWork, "commit", killed_after_two)
        code, _ = invoke(stub, db, "--batch-size", "25")
        assert code != 0
        monkeypatch.setattr(SqlUnitOfWork, "commit", original)
        engine = make_engine(db)
        with SqlUnitOfWork(engine) as uow:
            assert 0 < len(uow.trades.live_trades("trader")) < 60
        code, output = invoke(stub, db, "--batch-size", "25", "--json")
        assert code == 0, output
        assert json.loads(output[output.index("{") :])["resumedFrom"] is not None
        ref = make_engine(reference)
        assert snapshot_diff(snapshot(engine), snapshot(ref)) == []
        engine.dispose()
        ref.dispose()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--account", "not a key!"], "--account"),
        (["--since", "last tuesday"], "--since"),
        (["--api-url", "ftp://x"], "--api-url"),
        (["--sub-account", "70000"], "--sub-account"),
        (["--user", " "], "--user"),
    ],
)
def test_bad_options_name_the_option_exit_2_and_write_nothing(
    tmp_path: Path, extra: list[str], field: str
) -> None:
    path = tmp_path / "none.db"
    with serve(real_history()) as stub:
        args = ["import-history", "--user", "trader", "--account", TAKER, "--api-url", stub.url]
        result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{path}", *extra])
    assert result.exit_code == 2
    assert field in result.output + (result.stderr or "") and "Traceback" not in result.output
    assert not path.exists()


def test_a_bad_record_exits_2_naming_the_field_and_writes_nothing(db: str) -> None:
    stub = synthetic(30)
    stub.add("trades", fill_record(9999, 1_760_000_000, side="long", base="1", quote="abc"), account=TAKER)
    with serve(stub):
        code, output = invoke(stub, db)
    assert code == 2, output
    assert "quoteAssetAmountFilled" in output and "page=p60" in output  # the oldest record: the last page
    engine = make_engine(db)
    assert all(rows == [] for name, rows in dump(engine).items() if name != "alembic_version")
    engine.dispose()


def test_a_lasting_http_fault_exits_1_with_the_reason(db: str) -> None:
    stub = synthetic(5)
    stub.faults = [Fault(503) for _ in range(5)]
    with serve(stub):
        code, output = invoke(stub, db)
    assert code == 1 and "503" in output and "Traceback" not in output


def test_since_is_applied(db: str) -> None:
    since = datetime.fromtimestamp(1_770_000_000 + 120 * 10, UTC).isoformat()
    with serve(synthetic(20)) as stub:
        code, output = invoke(stub, db, "--since", since, "--json")
    assert code == 0, output
    assert json.loads(output[output.index("{") :])["tradesClosed"] == 10
