"""The API's outer ASGI layer: auth, body limits, content type, latency metrics and the catch-all 500.

Order of checks for a request: the bearer token (401; before anything is read), then the body size
(413; `Content-Length` or the bytes actually sent), then the content type of a body (415). A body
passing these is buffered (it is small by then) and replayed to the app. Any exception that escapes
the app is logged with its traceback and answered with a generic 500 problem document.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driftloop.entrypoints.api.metrics import Metrics
from driftloop.entrypoints.api.problems import problem_response

log = logging.getLogger("driftloop.api")

OPEN_PATHS = frozenset(
    {"/api/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CHALLENGE = 'Bearer realm="driftloop"'


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison (of bytes: `compare_digest` on str refuses non-ASCII)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


class ApiMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would break streaming and cancellation)."""

    def __init__(self, app: ASGIApp, *, token: str, max_body: int, metrics: Metrics) -> None:
        self.app, self.token, self.max_body, self.metrics = app, token, max_body, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
            await send(message)

        try:
            await self._handle(scope, receive, tracked)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not state["started"]:
                response = problem_response(
                    500, "internal error: the request could not be completed", instance=scope.get("path")
                )
                await response(scope, receive, tracked)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe_request(
                scope.get("method", "?"), template, state["status"], time.perf_counter() - started
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path not in OPEN_PATHS and not token_matches(bearer_token(scope.get("headers", [])), self.token):
            given = bearer_token(scope.get("headers", [])) is not None
            detail = (
                "invalid bearer token" if given else "missing bearer token (Authorization: Bearer <token>)"
            )
            challenge = _CHALLENGE + (', error="invalid_token"' if given else "")
            await problem_response(401, detail, instance=path, headers={"WWW-Authenticate": challenge})(
                scope, receive, send
            )
            return
        if method not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and not length.strip().isdigit():
            await problem_response(400, "invalid Content-Length header", instance=path)(scope, receive, send)
            return
        if length is not None and int(length) > self.max_body:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        if body and not is_json(_header(scope, b"content-type")):
            detail = "the request body must be JSON (Content-Type: application/json)"
            await problem_response(415, detail, instance=path)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body exceeds {self.max_body} bytes"
        await problem_response(413, detail, instance=scope.get("path"), headers={"Connection": "close"})(
            scope, receive, send
        )


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[MutableMapping[str, Any]]]:
    sent = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as the app expects

    return replay
