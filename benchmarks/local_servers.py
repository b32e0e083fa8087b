"""Starting a server on loopback for a benchmark: a free port, and waiting until it listens."""

from __future__ import annotations

import socket
import subprocess
import time

__all__ = ["free_port", "wait_up"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_up(
    port: int, proc: subprocess.Popen[bytes], timeout: float = 60, *, poll: float = 0.1
) -> None:
    """Return once something listens on `port`; SystemExit when `proc` exits first or nothing
    listens within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(poll)
    raise SystemExit(f"the server on port {port} did not listen within {timeout:.0f}s")
