"""A cheap Socket.IO load generator: raw websockets speaking the Engine.IO 4 / Socket.IO 5 text protocol.

One asyncio loop holds thousands of connections (aiohttp websockets, no client library per
connection), so the generator leaves most of the shared cores to the server under test.
Only what the benchmark needs: connect to a namespace with ``auth``, answer pings, emit
with an acknowledgement, and receive events.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, Callable

import aiohttp

EventHandler = Callable[[str, Any], None]


class RefusedError(RuntimeError):
    """The server refused the namespace connection (a CONNECT_ERROR packet)."""


class SioConnection:
    """One websocket carrying one Socket.IO namespace."""

    def __init__(self, http: aiohttp.ClientSession, url: str, namespace: str, auth: dict | None = None,
                 on_event: EventHandler | None = None) -> None:
        self.http, self.namespace, self.auth, self.on_event = http, namespace, auth, on_event
        self.ws_url = url.replace("http://", "ws://", 1).rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self._prefix = "" if namespace == "/" else f"{namespace},"
        self._ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future] = {}
        self._connected: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.closed = asyncio.Event()

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Open the websocket, join the namespace with ``auth``, start reading."""
        self.ws = await self.http.ws_connect(self.ws_url, autoping=False, max_msg_size=0, compress=0,
                                             timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        opening = await asyncio.wait_for(self.ws.receive(), timeout_s)
        if opening.type != aiohttp.WSMsgType.TEXT or not opening.data.startswith("0"):
            raise RuntimeError(f"unexpected Engine.IO opening: {opening.data!r}")
        self._connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        auth = json.dumps(self.auth) if self.auth is not None else ""
        await self.ws.send_str(f"40{self._prefix}{auth}")
        await asyncio.wait_for(self._connected, timeout_s)

    async def call(self, event: str, data: Any, timeout_s: float = 60.0) -> Any:
        """Emit an event and return the server's acknowledgement."""
        ack_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self.ws.send_str(f"42{self._prefix}{ack_id}{json.dumps([event, data], separators=(',', ':'))}")
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._acks.pop(ack_id, None)

    async def close(self) -> None:
        """Leave the namespace and close the websocket."""
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_str(f"41{self._prefix}".rstrip(","))
                await self.ws.close()
            except (ConnectionError, aiohttp.ClientError):
                pass
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        """Dispatch every packet: pings, namespace (dis)connects, acks and events."""
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                self._packet(msg.data)
        finally:
            self.closed.set()
            error = ConnectionError("connection closed")
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(error)
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(error)

    def _packet(self, text: str) -> None:
        """Handle one Engine.IO packet."""
        kind = text[:1]
        if kind == "2":  # ping: answer at once or the server drops us
            asyncio.ensure_future(self.ws.send_str("3" + text[1:]))
            return
        if kind != "4":
            return
        sio, body = text[1:2], text[2:]
        if body.startswith("/"):
            nsp, _, body = body.partition(",")
            if nsp != self.namespace:
                return
        if sio == "0":
            if not self._connected.done():
                self._connected.set_result(json.loads(body) if body else None)
        elif sio == "4":
            if not self._connected.done():
                self._connected.set_exception(RefusedError(body))
        elif sio == "3":
            digits = len(body) - len(body.lstrip("0123456789"))
            future = self._acks.get(int(body[:digits]))
            if future is not None and not future.done():
                args = json.loads(body[digits:])
                future.set_result(args[0] if args else None)
        elif sio == "2" and self.on_event is not None:
            digits = len(body) - len(body.lstrip("0123456789"))
            name, *args = json.loads(body[digits:])
            self.on_event(name, args[0] if args else None)
        elif sio == "1":
            self.closed.set()


def http_session() -> aiohttp.ClientSession:
    """Return a client session with no cap on simultaneous connections."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))
