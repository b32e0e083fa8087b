"""The fault proxy against a real echo server on loopback: each mode does what it says to the
bytes and the sockets, and the proxy's count of open connections follows them."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from .faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the proxy resets it
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: int) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo) as running:
        yield running


def _connect(proxy: FaultProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def _round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def _eventually(check: object, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.01)
    return False


def test_pass_forwards_both_ways_and_counts_connections(proxy: FaultProxy) -> None:
    first, second = _connect(proxy), _connect(proxy)
    assert _round_trip(first, b"hello") == b"hello"
    assert _round_trip(second, b"x" * 200_000) == b"x" * 200_000
    assert proxy.open_connections == 2
    first.close()
    assert _eventually(lambda: proxy.open_connections == 1)
    second.close()
    assert _eventually(lambda: proxy.open_connections == 0)
    assert proxy.accepted == 2


def test_latency_holds_each_answer_back(proxy: FaultProxy) -> None:
    with _connect(proxy) as sock:
        assert _round_trip(sock, b"warm") == b"warm"
        proxy.latency(150)
        started = time.monotonic()
        assert _round_trip(sock, b"slow") == b"slow"
        assert time.monotonic() - started >= 0.15
        proxy.pass_through()
        assert _round_trip(sock, b"fast") == b"fast"


def test_blackhole_keeps_connections_and_holds_the_bytes_until_it_ends(
    proxy: FaultProxy,
) -> None:
    with _connect(proxy, timeout=0.3) as old, _connect(proxy, timeout=0.3) as idle:
        assert _round_trip(old, b"before") == b"before"
        proxy.blackhole()
        old.sendall(b"held")
        with pytest.raises(TimeoutError):
            old.recv(100)
        new = _connect(proxy, timeout=0.3)  # still accepted
        new.sendall(b"held too")
        with pytest.raises(TimeoutError):
            new.recv(100)
        assert proxy.open_connections == 3
        proxy.pass_through()
        assert _round_trip(old, b"+after") == b"held+after"
        assert _round_trip(new, b"") == b"" and new.recv(100) == b"held too"
        assert _round_trip(idle, b"idle") == b"idle"
        new.close()


def test_reset_kills_open_connections_and_every_new_one(proxy: FaultProxy) -> None:
    with _connect(proxy) as old:
        assert _round_trip(old, b"ping") == b"ping"
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            old.recv(100)
    assert proxy.open_connections == 0
    with pytest.raises((ConnectionResetError, BrokenPipeError)), _connect(proxy) as new:
        new.sendall(b"ping")
        new.recv(100)
    assert proxy.open_connections == 0
    proxy.pass_through()
    with _connect(proxy) as again:
        assert _round_trip(again, b"back") == b"back"


def test_down_refuses_connections_until_restored_on_the_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    old = _connect(proxy)
    proxy.down()
    with pytest.raises(ConnectionResetError):
        old.recv(100)
    old.close()
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
    proxy.pass_through()
    assert proxy.port == port
    with _connect(proxy) as again:
        assert _round_trip(again, b"up") == b"up"


def test_a_target_that_refuses_resets_the_client_and_leaves_nothing_open() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with FaultProxy("127.0.0.1", closed_port) as proxy:
        # The RST can come before connect() has seen the handshake complete (connect with a
        # timeout reads the socket's error afterwards), or after it: both are the reset.
        with pytest.raises(ConnectionResetError), _connect(proxy) as sock:
            sock.recv(100)
        assert _eventually(lambda: proxy.open_connections == 0)
        assert proxy.accepted == 1


def test_close_releases_the_port_and_the_connections(echo: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo).start()
    sock = _connect(proxy)
    assert _round_trip(sock, b"hi") == b"hi"
    proxy.close()
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
