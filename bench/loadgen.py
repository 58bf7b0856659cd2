"""A lean HTTP/1.1 load generator: keep-alive connections over asyncio streams, requests rendered to
bytes up front, responses framed by Content-Length only (what `driftloop serve` sends).

Why not httpx: on 2 cores the generator shares the machine with the server, and httpx spends about
as much CPU per request as the server does, so it measured itself. This one costs a fraction of
that, and unlike `wrk` it needs nothing outside Python (and can send a different body per request).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Request = tuple[str, str, Any]  # method, path, JSON body or None


@dataclass(frozen=True, slots=True)
class LoadResult:
    rate: float  # requests/s
    latencies: list[float]  # seconds, one per request
    statuses: dict[int, int]  # status code → count

    @property
    def errors(self) -> int:
        """Responses other than 200."""
        return sum(n for status, n in self.statuses.items() if status != 200)


def render(host: str, headers: dict[str, str], method: str, path: str, body: Any) -> bytes:
    """The bytes of one keep-alive request (a JSON body when `body` is not None)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    payload = b""
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request, read its whole response; returns the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def load(
    base: str,
    request: Callable[[int], Request],
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """`connections` clients, each sending request after request for `seconds` (request k is
    `request(k)`, k = 1, 2, … across all clients)."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    sent_headers = {"Connection": "keep-alive", **(headers or {})}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal counter
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                counter += 1
                method, path, body = request(counter)
                data = render(f"{host}:{port}", sent_headers, method, path, body)
                started = time.perf_counter()
                status = await _exchange(reader, writer, data)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return LoadResult(len(latencies) / (time.perf_counter() - started), latencies, statuses)
