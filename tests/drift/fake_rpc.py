"""A local Solana JSON-RPC server (127.0.0.1, a free port) in front of `FakeDrift`.

The real `DriftClient` talks to it: it serves the program's accounts (`getAccountInfo`,
`getMultipleAccounts`, batched), accepts `sendTransaction` (decodes the v0 transaction and its Drift
instructions with the IDL coder and runs them), confirms (`getSignatureStatuses`), and serves the
transaction history with the program's event logs (`getSignaturesForAddress`, `getTransaction`).
Pubsub (`accountSubscribe`, `logsSubscribe` with a `mentions` filter) is served on a websocket at the
HTTP port + 1, where driftpy looks for it. It runs its own event loop in a thread, so tests may drive it
from any loop; one lock guards the state.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from drift.fake_drift import Effect, FakeDrift, ProgramError

COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111"


@dataclass
class Tx:
    signature: str
    slot: int
    block_time: int
    logs: list[str]
    mentions: set[str]
    err: Any = None


class FakeSolana:
    """The ledger and the JSON-RPC server; `drift` is the program behind it."""

    def __init__(self, drift: FakeDrift) -> None:
        self.drift, self.program = drift, str(drift.program_id)
        self.lock = threading.RLock()
        self.txs: list[Tx] = []
        self.by_sig: dict[str, Tx] = {}
        self.calls: dict[str, int] = {}
        self.fail_next: list[dict[str, Any]] = []  # JSON-RPC errors to answer the next calls with
        self.lose_send_replies = 0  # transactions that land while the client is told the node failed
        self._accounts: dict[str, bytes] = {}
        self._counter = 0
        self._subscriptions: dict[int, tuple[web.WebSocketResponse, str, str]] = {}  # id → (ws, kind, key)
        self._next_subscription = 1
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.refresh()

    # --- state ---------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-encode the program's accounts after a change and advance the slot (pushing the changed
        ones to their websocket subscribers)."""
        with self.lock:
            self.drift.slot += 1
            before, self._accounts = self._accounts, {str(k): v for k, v in self.drift.accounts().items()}
            changed = [k for k, v in self._accounts.items() if before.get(k) != v]
            for sub_id, (ws, kind, key) in list(self._subscriptions.items()):
                if kind == "account" and key in changed:
                    value = {"context": self._context(), "value": self._account(key)}
                    self._push(ws, "accountNotification", sub_id, value)

    def record(self, effect: Effect, signature: str | None = None) -> str:
        """Store a transaction whose program logs are `effect`'s event lines."""
        lines, mentions = effect
        with self.lock:
            self._counter += 1
            if signature is None:
                digest = hashlib.sha512(f"fake-tx-{self._counter}".encode()).digest()
                signature = str(Signature.from_bytes(digest))
            logs = [
                f"Program {COMPUTE_BUDGET} invoke [1]",
                f"Program {COMPUTE_BUDGET} success",
                f"Program {self.program} invoke [1]",
                *(line for line in lines if line),
                f"Program {self.program} consumed 20000 of 600000 compute units",
                f"Program {self.program} success",
            ]
            tx = Tx(signature, self.drift.slot, self.drift.now, logs, {str(m) for m in mentions})
            self.txs.append(tx)
            self.by_sig[signature] = tx
            self.refresh()
            for sub_id, (ws, kind, key) in list(self._subscriptions.items()):
                if kind == "logs" and key in tx.mentions:
                    value = {"signature": signature, "err": None, "logs": logs}
                    self._push(ws, "logsNotification", sub_id, {"context": {"slot": tx.slot}, "value": value})
            return signature

    def apply(self, effects: list[Effect]) -> list[str]:
        return [self.record(e) for e in effects]

    def signatures_of(self, address: Pubkey | str) -> list[str]:
        with self.lock:
            return [t.signature for t in self.txs if str(address) in t.mentions]

    # --- JSON-RPC ------------------------------------------------------------------------------------

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params, rid = request.get("method", ""), request.get("params") or [], request.get("id")
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            if self.fail_next:
                return {"jsonrpc": "2.0", "id": rid, "error": self.fail_next.pop(0)}
            handler = getattr(self, "rpc_" + method, None)
            if handler is None:
                return {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"Method not found: {method}"},
                }
            try:
                return {"jsonrpc": "2.0", "id": rid, "result": handler(*params)}
            except RpcError as exc:
                return {"jsonrpc": "2.0", "id": rid, "error": exc.body}

    def _context(self) -> dict[str, Any]:
        return {"apiVersion": "2.1.0", "slot": self.drift.slot}

    def _account(self, key: str) -> dict[str, Any] | None:
        data = self._accounts.get(key)
        if data is None:
            return None
        return {
            "data": [base64.b64encode(data).decode(), "base64"],
            "executable": False,
            "lamports": 10**9,
            "owner": self.program,
            "rentEpoch": 0,
            "space": len(data),
        }

    def rpc_getAccountInfo(self, key: str, _opts: Any = None) -> dict[str, Any]:
        return {"context": self._context(), "value": self._account(key)}

    def rpc_getMultipleAccounts(self, keys: list[str], _opts: Any = None) -> dict[str, Any]:
        return {"context": self._context(), "value": [self._account(k) for k in keys]}

    def rpc_getLatestBlockhash(self, _opts: Any = None) -> dict[str, Any]:
        blockhash = str(Pubkey(hashlib.sha256(f"bh-{self.drift.slot}".encode()).digest()))
        return {
            "context": self._context(),
            "value": {"blockhash": blockhash, "lastValidBlockHeight": self.drift.slot + 150},
        }

    def rpc_getSlot(self, _opts: Any = None) -> int:
        return self.drift.slot

    def rpc_getSignatureStatuses(self, sigs: list[str], _opts: Any = None) -> dict[str, Any]:
        statuses = []
        for sig in sigs:
            tx = self.by_sig.get(sig)
            statuses.append(
                None
                if tx is None
                else {
                    "slot": tx.slot,
                    "confirmations": None,
                    "err": None,
                    "status": {"Ok": None},
                    "confirmationStatus": "confirmed",
                }
            )
        return {"context": self._context(), "value": statuses}

    def rpc_getSignaturesForAddress(
        self, address: str, opts: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        opts = opts or {}
        before, until, limit = opts.get("before"), opts.get("until"), opts.get("limit") or 1000
        out: list[dict[str, Any]] = []
        started = before is None
        for tx in reversed(self.txs):  # newest first
            if address not in tx.mentions:
                continue
            if not started:
                started = tx.signature == before
                continue
            if tx.signature == until or len(out) >= limit:
                break
            out.append(
                {
                    "signature": tx.signature,
                    "slot": tx.slot,
                    "err": None,
                    "memo": None,
                    "blockTime": tx.block_time,
                    "confirmationStatus": "confirmed",
                }
            )
        return out

    def rpc_getTransaction(self, sig: str, _opts: Any = None) -> dict[str, Any] | None:
        tx = self.by_sig.get(sig)
        if tx is None:
            return None
        return {
            "slot": tx.slot,
            "blockTime": tx.block_time,
            "transaction": {"signatures": [tx.signature], "message": {"accountKeys": sorted(tx.mentions)}},
            "meta": {"err": None, "fee": 5000, "logMessages": tx.logs, "preBalances": [], "postBalances": []},
            "version": 0,
        }

    def rpc_sendTransaction(self, raw: str, _opts: Any = None) -> str:
        tx = VersionedTransaction.from_bytes(base64.b64decode(raw))
        keys = list(tx.message.account_keys)
        signer = keys[0]
        effects: list[Effect] = []
        for n, ix in enumerate(tx.message.instructions):
            program = str(keys[ix.program_id_index])
            if program == COMPUTE_BUDGET:
                continue
            if program != self.program:
                raise RpcError.simulation(n, "IncorrectProgramId", 0, [])
            named = self.drift.codec.parse_instruction(bytes(ix.data))
            accounts = [keys[i] for i in ix.accounts]
            try:
                if accounts[0] != self.drift.state:
                    raise ProgramError("InvalidState", f"{accounts[0]} is not the program's State account")
                effects.append(self.drift.execute(named.name, named.data, accounts[1], signer))
            except ProgramError as exc:
                try:
                    code = self.drift.codec.error_code(exc.name)
                except KeyError:
                    code = 6000
                logs = [
                    f"Program {self.program} invoke [1]",
                    f"Program log: Error: {exc.message}",
                    f"Program {self.program} failed: custom program error: {hex(code)}",
                ]
                raise RpcError.simulation(n, exc.name, code, logs) from None
        lines = [line for e in effects for line in e[0]]
        mentions = {str(k) for k in keys}
        self.record((lines, {Pubkey.from_string(m) for m in mentions}), str(tx.signatures[0]))
        if self.lose_send_replies:
            self.lose_send_replies -= 1
            behind = {"code": -32005, "message": "Node is behind by 7 slots", "data": {"numSlotsBehind": 7}}
            raise RpcError(behind)
        return str(tx.signatures[0])

    # --- server --------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())  # driftpy labels plain JSON as gzip: never decompress
        if isinstance(body, list):
            return web.json_response([self.handle(r) for r in body])
        return web.json_response(self.handle(body))

    # --- pubsub (websocket at the HTTP port + 1, where driftpy and solana-py look for it) -----------------

    async def _pubsub(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            body = json.loads(message.data)
            for req in body if isinstance(body, list) else [body]:
                await ws.send_str(json.dumps(self._subscribe(ws, req)))
        with self.lock:
            for sub_id in [s for s, (w, _, _) in self._subscriptions.items() if w is ws]:
                del self._subscriptions[sub_id]
        return ws

    def _subscribe(self, ws: web.WebSocketResponse, req: dict[str, Any]) -> dict[str, Any]:
        method, params, rid = req.get("method", ""), req.get("params") or [], req.get("id")
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            if method.endswith("Unsubscribe"):
                self._subscriptions.pop(int(params[0]), None)
                return {"jsonrpc": "2.0", "id": rid, "result": True}
            if method == "accountSubscribe":
                kind, key = "account", str(params[0])
            elif method == "logsSubscribe" and isinstance(params[0], dict) and "mentions" in params[0]:
                kind, key = "logs", str(params[0]["mentions"][0])
            else:
                return {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"not supported: {method}"},
                }
            sub_id, self._next_subscription = self._next_subscription, self._next_subscription + 1
            self._subscriptions[sub_id] = (ws, kind, key)
            return {"jsonrpc": "2.0", "id": rid, "result": sub_id}

    def _push(self, ws: web.WebSocketResponse, method: str, sub_id: int, result: dict[str, Any]) -> None:
        text = json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": {"result": result, "subscription": sub_id}}
        )
        if self._loop is None or ws.closed:
            return
        if threading.current_thread() is self._thread:
            self._loop.create_task(ws.send_str(text))
        else:
            asyncio.run_coroutine_threadsafe(ws.send_str(text), self._loop)

    def start(self) -> str:
        """Serve JSON-RPC on 127.0.0.1 at a free port and pubsub at the next, in a thread; returns the URL."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            while True:  # a free port whose successor is free too
                app, pubsub = web.Application(), web.Application()
                app.router.add_post("/", self._serve)
                pubsub.router.add_get("/", self._pubsub)
                runner, ws_runner = web.AppRunner(app, auto_decompress=False), web.AppRunner(pubsub)
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(ws_runner.setup())
                loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
                port = runner.addresses[0][1]
                try:
                    loop.run_until_complete(web.TCPSite(ws_runner, "127.0.0.1", port + 1).start())
                    break
                except OSError:
                    loop.run_until_complete(runner.cleanup())
                    loop.run_until_complete(ws_runner.cleanup())
            self.url, self._runner = f"http://127.0.0.1:{port}", runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(ws_runner.cleanup())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-solana", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


class RpcError(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.body = body

    @staticmethod
    def simulation(index: int, name: str, code: int, logs: list[str]) -> RpcError:
        message = (
            f"Transaction simulation failed: Error processing Instruction {index}: "
            f"custom program error: {hex(code)}"
        )
        data = {
            "err": {"InstructionError": [index, {"Custom": code}]},
            "logs": logs,
            "accounts": None,
            "unitsConsumed": 0,
            "returnData": None,
            "innerInstructions": None,
        }
        return RpcError({"code": -32002, "message": message, "data": data})
