"""Errors classified by what the caller does next."""

from __future__ import annotations


class DriftloopError(Exception):
    """Base of every error the product reports to a user."""


class InputError(DriftloopError):
    """Bad user input: reported with where it is, nothing is written."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, field: str | None = None):
        self.message, self.source, self.line, self.field = message, source, line, field
        where = source + (f":{line}" if line is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}" if where else f"{what}{message}")


class TemporaryError(DriftloopError):
    """A transient fault (timeout, rate limit, node behind): retry with backoff."""


class RejectedError(DriftloopError):
    """The venue refused the request: record it, do not retry."""


class ConfigError(DriftloopError):
    """Misconfiguration: stop and tell the operator."""


class NotFoundError(DriftloopError):
    """An unknown user, trade or run."""
