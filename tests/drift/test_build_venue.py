"""Choosing the venue from settings; the Drift venue needs the drift extra (driftpy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import build_venue
from driftloop.config import DriftSettings, Settings
from driftloop.domain.errors import ConfigError

HAS_DRIFTPY = importlib.util.find_spec("driftpy") is not None


def test_the_paper_venue_is_the_default() -> None:
    assert isinstance(build_venue(Settings()), PaperVenue)


def test_an_unknown_venue_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown venue"):
        build_venue(Settings(venue="mars"))


@pytest.mark.skipif(HAS_DRIFTPY, reason="driftpy is installed: the Drift venue is available")
def test_without_the_extra_the_drift_venue_says_how_to_get_it() -> None:
    with pytest.raises(ConfigError, match=r"driftloop\[drift\]"):
        build_venue(Settings(venue="drift"), DriftSettings(keypair_path=Path("/nonexistent")))


@pytest.mark.skipif(not HAS_DRIFTPY, reason="driftpy is an optional extra (make test runs it in .venv-drift)")
def test_with_the_extra_the_drift_venue_is_built_from_drift_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from solders.keypair import Keypair

    wallet = Keypair.from_seed(bytes([3]) * 32)
    monkeypatch.setenv("DRIFTLOOP_DRIFT_KEYPAIR", str(wallet))
    monkeypatch.setenv("DRIFTLOOP_DRIFT_SUB_ACCOUNT", "2")
    venue = build_venue(Settings(venue="drift"))
    assert venue.name == "drift"
    assert getattr(venue, "authority") == wallet.pubkey()  # noqa: B009
    with pytest.raises(ConfigError, match="needs a wallet"):
        build_venue(Settings(venue="drift"), DriftSettings(keypair=None, keypair_path=None))
