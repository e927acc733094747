"""A throw-away PostgreSQL cluster on a free loopback port, for tests, benchmarks and CI.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user and
every server command runs through ``runuser``.

    python -m tools.pgcluster start DIR     # prints the URL; the server keeps running
    python -m tools.pgcluster stop DIR
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")


def find_bindir() -> str | None:
    """The directory holding initdb and pg_ctl, or None when no PostgreSQL server is installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return str(Path(os.path.realpath(found)).parent)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(os.path.exists(os.path.join(candidate, b)) for b in SERVER_BINARIES):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, base_dir: str | None = None, *, durable: bool = False) -> None:
        self.bindir = find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="onecard-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.port_file = self.base_dir / "port"
        self.durable = durable
        self.as_root = os.geteuid() == 0

    # -- helpers -------------------------------------------------------------------------
    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]  # type: ignore[arg-type]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True)

    @property
    def port(self) -> int:
        return int(self.port_file.read_text())

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.base_dir, "postgres", "postgres")
            os.chmod(self.base_dir, 0o700)
        if not self.data_dir.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        port = free_port()
        self.port_file.write_text(str(port))
        options = [
            f"-p {port}",
            f"-k {self.base_dir}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self.url

    def stop(self, remove: bool = True) -> None:
        if self.data_dir.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", autocommit=True
                )
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "createdb"])
    parser.add_argument("dir")
    parser.add_argument("--name", default="onecard")
    parser.add_argument("--durable", action="store_true", help="keep fsync on (benchmarks)")
    args = parser.parse_args(argv)
    cluster = PgCluster(args.dir, durable=args.durable)
    if args.action == "start":
        cluster.start()
        print(cluster.create_database(args.name))
    elif args.action == "createdb":
        print(cluster.create_database(args.name))
    else:
        cluster.stop(remove=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
