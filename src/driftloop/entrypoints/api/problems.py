"""Errors as RFC 9457 problem details, mapped once from the product's error classes.

Every error response is `application/problem+json` with `type`, `title`, `status`, `detail`
and `instance`, plus the seed's `success: false` and `error` (the detail) so that scripts written
against the seed keep working, and `errors` (field, location, message) for validation errors.
No stack trace, key, SQL or internal path ever reaches a response: unexpected errors are logged
and answered with a generic 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from driftloop.domain.errors import (
    ConfigError,
    DriftloopError,
    InputError,
    NotFoundError,
    RejectedError,
    TemporaryError,
)

log = logging.getLogger("driftloop.api")
PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:driftloop:problem:"
FEEDBACK_ACTIONS = ("start_monitoring", "stop_monitoring", "check_trades", "get_insights")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal server error",
    503: "Service unavailable",
}
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    500: "internal-error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.slug = status, detail, slug
        self.errors, self.headers, self.extra = errors, headers, extra


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document (with the seed's `success`/`error` fields)."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (slug or _SLUGS.get(status, "error")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "success": False,
        "error": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, detail, instance=instance, slug=slug, errors=errors, extra=extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: Sequence[Any]) -> tuple[str, str]:
    """(field path, location) from a pydantic/FastAPI error location, e.g. ("body", "stopLoss")."""
    parts = [str(p) for p in loc]
    where = parts[0] if parts and parts[0] in ("body", "query", "path", "header", "cookie") else "body"
    path = parts[1:] if parts and parts[0] == where else parts
    return ".".join(path) or "(body)", where


def _message(error: dict[str, Any]) -> str:
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def validation_problem(exc: RequestValidationError, path: str) -> JSONResponse:
    """422 naming every field (camelCase, as on the wire); malformed JSON and unknown actions are 400."""
    raw = list(exc.errors())
    first = raw[0] if raw else {}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        position = first.get("loc", ("body", 0))[-1]
        return problem_response(
            400,
            f"malformed JSON body: {reason} (at character {position})",
            instance=path,
            slug="malformed-json",
        )
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return problem_response(400, "a JSON request body is required", instance=path, slug="missing-body")
    errors = []
    for error in raw:
        field, where = _field(error.get("loc", ()))
        errors.append(
            {"field": field, "location": where, "message": _message(error), "type": error.get("type")}
        )
    action = next((e for e in errors if e["field"] == "action" and e["location"] == "body"), None)
    if action is not None and action["type"] in ("enum", "literal_error", "string_type"):
        expected = ", ".join(FEEDBACK_ACTIONS)
        return problem_response(
            400,
            f"unknown action: expected one of {expected}",
            instance=path,
            slug="unknown-action",
            errors=[action],
        )
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        422, detail or "invalid input", instance=path, slug="validation-error", errors=errors
    )


def error_status(exc: Exception) -> tuple[int, str]:
    """HTTP status and public detail of a product error."""
    if isinstance(exc, InputError):
        return 422, (f"{exc.field}: {exc.message}" if exc.field else exc.message)
    if isinstance(exc, NotFoundError):
        return 404, str(exc)
    if isinstance(exc, TemporaryError):
        return 503, "the venue is temporarily unavailable; retry later"
    if isinstance(exc, RejectedError):
        return 422, str(exc)
    if isinstance(exc, ConfigError):
        return 503, "the service is misconfigured for this request; see the server log"
    return 400, str(exc)


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers (the catch-all for anything else is the ASGI middleware)."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return problem_response(
            exc.status,
            exc.detail,
            instance=request.url.path,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc, request.url.path)

    async def on_product_error(request: Request, exc: Exception) -> Response:
        status, detail = error_status(exc)
        if isinstance(exc, ConfigError):
            log.error("configuration error on %s: %s", request.url.path, exc)
        errors = None
        if isinstance(exc, InputError) and exc.field:
            errors = [{"field": exc.field, "location": "body", "message": exc.message, "type": "value_error"}]
        headers = {"Retry-After": "5"} if status == 503 else None
        return problem_response(status, detail, instance=request.url.path, errors=errors, headers=headers)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)

    app.add_exception_handler(ApiError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DriftloopError, on_product_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
