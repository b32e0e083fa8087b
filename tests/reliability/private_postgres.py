"""A PostgreSQL server of the test's own, so that it can really be stopped and started again:
the machine's shared server (which every other test uses) must not be. Built with the
server's own tools (`initdb`, `pg_ctl`), run as the `postgres` system user when the tests run
as root (the server refuses to run as root), on a free port of loopback, data in a temporary
directory, without fsync (the data is thrown away; a stopped server is not a crashed machine,
so what was committed is in the operating system's files either way)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .harness import free_port

__all__ = ["PrivatePostgres", "missing_reason", "private_postgres"]


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def missing_reason() -> str | None:
    """Why a private server can't be run here, or None when it can."""
    if _bin_dir() is None:
        return "the PostgreSQL server tools (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres system user to run the server as"
    return None


class PrivatePostgres:
    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self._bin = _bin_dir()

    def _run(self, *args: str) -> None:
        assert self._bin is not None
        cmd = [str(self._bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data}"
            " -c fsync=off -c full_page_writes=off"
        )
        log = str(self.data / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: connections are cut and the server shuts down cleanly; `immediate`: as a
        crash (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres(work: Path) -> Iterator[PrivatePostgres]:
    """A running private server under `work` (a directory the server's user can enter)."""
    data = work / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (work, data):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        # the temporary directories above `work` are root's: let the server's user through
        parent = work.parent
        while parent != parent.parent and parent != Path("/tmp"):
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
            parent = parent.parent
    server = PrivatePostgres(data, free_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop("immediate")
