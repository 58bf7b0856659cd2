"""Where the API token comes from, and the loopback-only generated token.

In order: `DRIFTLOOP_API_TOKEN`; the file named by `DRIFTLOOP_API_TOKEN_FILE` if it exists; else,
on a loopback address only, a random token kept in a file of mode 0600 (the configured token file,
or `.driftloop-token` next to a SQLite database, or `~/.config/driftloop/token`), reused by later
runs. The token itself is never logged, only the file that holds it. A public address without a
configured token is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from driftloop.config import Settings
from driftloop.domain.errors import ConfigError

log = logging.getLogger("driftloop.api")
MIN_PUBLIC_TOKEN = 16
TOKEN_FILE_NAME = ".driftloop-token"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True, slots=True)
class ApiToken:
    value: str
    origin: str  # where it came from, for the log (never the token)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere: treat it as public


def default_token_path(database_url: str) -> Path:
    """`.driftloop-token` next to a SQLite database file, else `~/.config/driftloop/token`."""
    try:
        url = make_url(database_url)
    except Exception:
        url = None
    if url is not None and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).expanduser().resolve().parent / TOKEN_FILE_NAME
    return Path.home() / ".config" / "driftloop" / "token"


def _read(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the API token file {path}: {exc}") from None
    if not token:
        raise ConfigError(f"the API token file {path} is empty")
    if path.stat().st_mode & 0o077:
        log.warning("the API token file %s is readable by others: chmod 600 it", path)
    return token


def _write_private(path: Path, token: str) -> None:
    """Write atomically with mode 0600 (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _generated(path: Path) -> ApiToken:
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 == 0 and path.stat().st_uid == os.getuid():
            return ApiToken(_read(path), f"generated token file {path} (reused)")
    try:
        _write_private(path, secrets.token_urlsafe(32))
    except OSError as exc:
        raise ConfigError(f"cannot write the API token file {path}: {exc.strerror or exc}") from None
    return ApiToken(_read(path), f"generated token file {path} (new, mode 0600)")


def resolve_token(settings: Settings, host: str) -> ApiToken:
    """The token the server requires; ConfigError when it must not start."""
    public = not is_loopback(host)
    token: ApiToken | None = None
    if settings.api_token is not None and settings.api_token.get_secret_value().strip():
        token = ApiToken(settings.api_token.get_secret_value().strip(), "DRIFTLOOP_API_TOKEN")
    elif settings.api_token_file is not None and settings.api_token_file.exists():
        path = settings.api_token_file.expanduser()
        token = ApiToken(_read(path), f"token file {path}")
    elif public:
        raise ConfigError(
            f"refusing to serve on the non-loopback address {host} without a token: set "
            "DRIFTLOOP_API_TOKEN or DRIFTLOOP_API_TOKEN_FILE (or bind 127.0.0.1)"
        )
    else:
        path = (settings.api_token_file or default_token_path(settings.database_url)).expanduser()
        token = _generated(path)
    if public and len(token.value) < MIN_PUBLIC_TOKEN:
        raise ConfigError(
            f"the API token is too short for a public address (at least {MIN_PUBLIC_TOKEN} characters)"
        )
    return token
