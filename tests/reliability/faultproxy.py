"""A small TCP fault proxy for tests and benchmarks, in the spirit of Toxiproxy: it listens on a
free loopback port, forwards every connection to a target, and misbehaves on demand.

Modes, switched at run time from any thread (each call returns once the mode is in force):

- `pass_through()`: bytes flow both ways untouched.
- `latency(ms)`: every chunk coming back from the target is held `ms` milliseconds before it is
  forwarded (Toxiproxy's downstream latency: a round trip costs `ms` more).
- `blackhole()`: connections are accepted and kept, old and new, but nothing is forwarded in
  either direction; what is sent meanwhile is held and goes through once the blackhole ends (as
  TCP's retransmissions do when a partition heals, and as Toxiproxy's `timeout` toxic with a
  zero timeout does), so a client waits with no error, as behind a dead network path.
- `reset()`: every open connection is closed with a TCP RST, and each new one is accepted and
  reset at once (a peer that keeps crashing).
- `down()`: every open connection is reset and the port stops listening, so new connections
  are refused (a stopped server).

The proxy counts the connections it holds (`open_connections`), so a test can check that a
client's pool gave back what it took once a fault is over. Runs an asyncio loop in a daemon
thread; imports nothing from cartwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = ["FaultProxy", "Mode"]

Mode = Literal["pass", "latency", "blackhole", "reset", "down"]

T = TypeVar("T")

_CHUNK = 65_536
_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on with a zero timeout: close() sends RST instead of FIN."""


@dataclass(eq=False)
class _Link:
    """One client connection and its connection to the target."""

    sock: socket.socket
    client: asyncio.StreamWriter | None = None
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False


class FaultProxy:
    """Forwards `127.0.0.1:port` to `target_host:target_port`; use as a context manager or
    call `start()` / `close()`. `address` is "127.0.0.1:port" for building client URLs."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._requested_port = port
        self.port = 0
        self._mode: Mode = "pass"
        self._latency = 0.0
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._listener: socket.socket | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self.accepted = 0
        """Connections accepted since the start (reset ones included)."""

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen(self._requested_port))
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- modes -----------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    def pass_through(self) -> None:
        self._call(self._switch("pass"))

    def latency(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("latency must not be negative")
        self._call(self._switch("latency", ms / 1000))

    def blackhole(self) -> None:
        self._call(self._switch("blackhole"))

    def reset(self) -> None:
        self._call(self._switch("reset"))

    def down(self) -> None:
        self._call(self._switch("down"))

    @property
    def open_connections(self) -> int:
        """Client connections the proxy holds right now."""
        return self._call(self._count())

    # -- inside the loop -------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _count(self) -> int:
        return len(self._links)

    async def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._loop.add_reader(listener.fileno(), self._on_acceptable)

    def _stop_listening(self) -> None:
        """Close the port; connections the kernel completed but nobody accepted yet are reset
        first (closing the socket alone would leave their clients waiting)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._loop.remove_reader(listener.fileno())
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                break
            self.accepted += 1
            _reset_socket(conn)
        listener.close()

    def _on_acceptable(self) -> None:
        while self._listener is not None:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.accepted += 1
            if self._mode in ("reset", "down"):
                _reset_socket(conn)
                continue
            conn.setblocking(False)
            link = _Link(conn)
            self._links.add(link)
            link.tasks.append(self._loop.create_task(self._connect(link)))

    async def _switch(self, mode: Mode, latency: float = 0.0) -> None:
        previous = self._mode
        self._mode, self._latency = mode, latency
        if mode == "blackhole":
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode in ("reset", "down"):
            for link in list(self._links):
                self._drop(link, reset=True)
        if mode == "down":
            self._stop_listening()
        if previous == "down" and mode != "down":
            await self._listen(self.port)

    async def _shutdown(self) -> None:
        self._stop_listening()
        links = list(self._links)
        for link in links:
            self._drop(link, reset=True)
        tasks = [task for link in links for task in link.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connect(self, link: _Link) -> None:
        """Wrap an accepted socket in streams, open its twin to the target, start the pumps."""
        try:
            reader, writer = await asyncio.open_connection(sock=link.sock)
        except OSError:
            self._drop(link, reset=True)
            return
        link.client = writer
        if link.closed:  # reset meanwhile
            _abort(writer, reset=True)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._drop(link, reset=True)
            return
        link.upstream = up_writer
        if link.closed:
            _abort(up_writer, reset=True)
            return
        link.tasks += [
            asyncio.create_task(self._pump(link, reader, up_writer, downstream=False)),
            asyncio.create_task(self._pump(link, up_reader, writer, downstream=True)),
        ]

    async def _pump(
        self,
        link: _Link,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        downstream: bool,
    ) -> None:
        """Copy `source` to `sink` until either side closes; downstream chunks wait out the
        latency from when they arrived, so the delay does not add up over a stream."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await pending.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()

        sender = asyncio.create_task(deliver())
        try:
            while data := await source.read(_CHUNK):
                delay = self._latency if downstream and self._mode == "latency" else 0.0
                pending.put_nowait((loop.time() + delay, data))
            pending.put_nowait(None)
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            self._drop(link, reset=False)

    def _drop(self, link: _Link, *, reset: bool) -> None:
        if link.closed:
            return
        link.closed = True
        self._links.discard(link)
        if link.client is not None:
            _abort(link.client, reset=reset)
        elif reset:
            _reset_socket(link.sock)
        else:
            link.sock.close()
        if link.upstream is not None:
            _abort(link.upstream, reset=reset)


def _abort(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close at once: with an RST when `reset`, else with a FIN after what is buffered."""
    sock = writer.get_extra_info("socket")
    if reset and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        writer.transport.abort()
    else:
        writer.close()


def _reset_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()
