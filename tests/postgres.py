"""A real PostgreSQL server for the registry tests, started by the tests themselves on 127.0.0.1.

One server per test session (initdb into a temporary folder, ``pg_ctl start`` on a free port, its unix
socket in that folder), one fresh database per test, owned by a role that is not a superuser and logs in
over TCP with a password (scram-sha-256), as an office's issuing service would. Tests run as root in CI,
and initdb refuses root: the server then runs as Debian's ``postgres`` system user. Without PostgreSQL
installed the tests fail (never skip), naming the package to install.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = ["PostgresServer", "postgres_server", "postgres_url"]

APT_PACKAGE = "postgresql"
ROLE = "econsent_issuer"
PASSWORD = "s3cret-Pa55;word"  # a test password, for the tests that prove it is never shown
_DATABASES = itertools.count(1)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running test server: admin access over its unix socket, registry access over TCP."""

    port: int
    socket_dir: Path

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection over the unix socket (trust authentication: local to the test folder)."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=database,
                               autocommit=True)  # fmt: skip

    def url(self, database: str, *, password: str | None = PASSWORD) -> str:
        """The registry's URL for ``database``: the issuing role over TCP, with the password unless None."""
        secret = "" if password is None else ":" + password.replace("%", "%25").replace(";", "%3B")
        return f"postgresql://{ROLE}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database owned by the issuing role; returns its name."""
        name = f"registry_{os.getpid()}_{next(_DATABASES)}"
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" OWNER {ROLE} TEMPLATE template0 ENCODING UTF8')
        return name

    def fresh_url(self) -> str:
        """The URL (with password) of a new, empty database."""
        return self.url(self.create_database())


def _programs() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        pytest.fail(
            f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y {APT_PACKAGE}",
            pytrace=False,
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """Root runs the server as the ``postgres`` system user (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this session, removed with its files at the end."""
    programs = _programs()
    folder = Path(tempfile.mkdtemp(prefix="econsent-pg-"))
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(f"no 'postgres' system user to run the server as: apt-get install -y {APT_PACKAGE}")
        os.chown(folder, server_user.pw_uid, server_user.pw_gid)
    data, password_file = folder / "data", folder / "password"
    password_file.write_text("unused-superuser-password\n", encoding="utf-8")
    if os.geteuid() == 0:
        os.chown(password_file, server_user.pw_uid, server_user.pw_gid)
    port = _free_port()
    server = PostgresServer(port=port, socket_dir=folder)
    _run([str(programs / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
          "--auth-host=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8", "--no-locale", "--no-sync"],
         "initdb")  # fmt: skip
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    _run([str(programs / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
          "-o", options, "start"], "pg_ctl start")  # fmt: skip
    try:
        with server.admin() as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        yield server
    finally:
        subprocess.run(_as_server_user([str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL (with password) of a new, empty database for this test alone."""
    return postgres_server.fresh_url()
