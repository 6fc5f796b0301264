"""How `serve` runs uvicorn: worker processes that share the load, and one socket write an answer.

**Each worker its own listening socket.** uvicorn's `--workers` binds one socket in the parent and
every worker accepts from it: whichever worker wakes first takes every connection waiting, so
clients that connect together (a load balancer's or a proxy's keep-alive pool, the benchmark's
64 connections) can land almost all on one worker while the other idles — measured here: 95 % to
98 % of ratings on one of two workers, and the open-loop p99 at 3,000 ratings/s doubled. Here each
worker binds the port itself with SO_REUSEPORT and the kernel spreads new connections evenly
over the workers' sockets. uvicorn's supervisor still starts, watches and restarts the workers.
Before any worker starts, the parent binds the port once *without* SO_REUSEPORT, so a port
already in use — by another program or by a forgotten earlier `serve` — is refused, as before,
instead of silently sharing its connections.

**One write an answer.** uvicorn writes the status line and headers as soon as the app sends
`http.response.start`, and the body as a second write: two `send()` system calls, two packets and
two wake-ups of the client for a 300-byte answer. Here the transport holds what is written during
one turn of the event loop and hands it to the socket in one write at the end of that turn (an
answer's headers and body always come in the same turn). Measured on a bare ASGI app: 23 us of
server CPU a request instead of 27. Nothing waits on a timer: a write is flushed before the loop
next polls the sockets, and at once before the connection closes.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import multiprocess


class _OneWritePerTurn:
    """The connection's transport, with `write` gathered per event-loop turn; every other call
    goes straight to the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """httptools with one socket write an answer (`uvicorn.Config(http=…)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = _OneWritePerTurn(transport, self.loop)
        super().connection_made(wrapped)


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _OwnSocketWorker(multiprocess.Process):
    """A uvicorn worker process that listens on its own SO_REUSEPORT socket."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        super().target([_bind(self.config.host, self.config.port, reuse_port=True)])


def serve(config: uvicorn.Config) -> None:
    """Run `config` the way `uvicorn.run` would, but with each of several workers on its own
    socket. Raises OSError when the port is taken (checked before anything starts)."""
    _bind(config.host, config.port, reuse_port=False).close()
    if config.workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.Server(config).run()
        return
    # uvicorn's supervisor builds its workers from this module-level name (start and restart).
    multiprocess.Process = _OwnSocketWorker  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[]).run()
