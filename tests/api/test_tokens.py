"""Where the API token comes from; the generated loopback token; refusing a public address."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from driftloop.config import Settings
from driftloop.domain.errors import ConfigError
from driftloop.entrypoints.api.middleware import token_matches
from driftloop.entrypoints.api.tokens import default_token_path, is_loopback, resolve_token


def settings(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", api_token=None, api_token_file=None)
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True), ("0.0.0.0", False),
     ("10.1.2.3", False), ("example.com", False), ("[::1]", True)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_environment_token_wins(tmp_path: Path) -> None:
    token = resolve_token(settings(tmp_path, api_token=SecretStr(" from-env-0123456789 ")), "0.0.0.0")
    assert token.value == "from-env-0123456789" and token.origin == "DRIFTLOOP_API_TOKEN"


def test_token_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "token"
    path.write_text("file-token-0123456789\n")
    path.chmod(0o644)
    token = resolve_token(settings(tmp_path, api_token_file=path), "0.0.0.0")
    assert token.value == "file-token-0123456789" and str(path) in token.origin
    assert "readable by others" in caplog.text and "file-token" not in caplog.text
    path.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        resolve_token(settings(tmp_path, api_token_file=path), "127.0.0.1")


def test_generated_on_loopback_only_and_reused(tmp_path: Path) -> None:
    first = resolve_token(settings(tmp_path), "127.0.0.1")
    path = tmp_path / ".driftloop-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().strip() == first.value
    assert first.value not in first.origin and "new" in first.origin
    again = resolve_token(settings(tmp_path), "localhost")
    assert again.value == first.value and "reused" in again.origin
    path.chmod(0o644)  # exposed: replaced by a new private one
    replaced = resolve_token(settings(tmp_path), "127.0.0.1")
    assert replaced.value != first.value and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="without a token"):
        resolve_token(settings(tmp_path), "0.0.0.0")


def test_short_token_refused_on_a_public_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too short"):
        resolve_token(settings(tmp_path, api_token=SecretStr("short")), "0.0.0.0")
    assert resolve_token(settings(tmp_path, api_token=SecretStr("short")), "127.0.0.1").value == "short"


def test_default_paths(tmp_path: Path) -> None:
    assert default_token_path(f"sqlite:///{tmp_path}/a.db") == tmp_path / ".driftloop-token"
    assert default_token_path("postgresql://u@h/db") == Path.home() / ".config" / "driftloop" / "token"
    assert default_token_path("sqlite://") == Path.home() / ".config" / "driftloop" / "token"


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches(None, "abc") and not token_matches("", "abc")
    assert not token_matches("ä\udcff", "abc")
