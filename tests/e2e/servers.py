"""Real servers for tests, on loopback: PostgreSQL (a throwaway cluster) and MLflow."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def require_or_skip(what: str) -> None:
    """Skip a test whose system package is missing, unless HEPSWEEP_REQUIRE_SYSTEM_PACKAGES=1
    (set by the CI script, which installs them) makes the absence a failure."""
    import pytest

    if os.environ.get("HEPSWEEP_REQUIRE_SYSTEM_PACKAGES") == "1":
        pytest.fail(f"{what} is required in CI but missing")
    pytest.skip(f"needs {what}; .ci/run installs it")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def postgres_server(password: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port; yields its SQLAlchemy URL. With a
    ``password`` the server checks it (scram-sha-256 on TCP) and the URL carries it; without,
    it trusts loopback."""
    url = os.environ.get("HEPSWEEP_TEST_POSTGRES_URL")
    if url and password is None:  # a server provided by the environment
        yield url
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="hepsweep-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    port = free_port()
    as_root = os.geteuid() == 0

    def run(command: str) -> None:
        full = ["su", "postgres", "-c", command] if as_root else ["bash", "-c", command]
        subprocess.run(full, check=True, capture_output=True, text=True)

    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(root, 0o755)
    auth = "--auth=trust"
    if password is not None:
        (root / "pw").write_text(password + "\n")
        if as_root:
            shutil.chown(root / "pw", "postgres")
        auth = f"--auth-local=trust --auth-host=scram-sha-256 --pwfile={root / 'pw'}"
    run(f"{bin_dir}/initdb -D {data} {auth} -U postgres")
    (root / "pw").unlink(missing_ok=True)
    run(f"{bin_dir}/pg_ctl -D {data} -o '-p {port} -k {sockets} -c listen_addresses=127.0.0.1' -l {root}/log -w start")
    try:
        user = f"postgres:{password}" if password is not None else "postgres"
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        try:
            run(f"{bin_dir}/pg_ctl -D {data} -m immediate -w stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mlflow_server(folder: Path, command: list[str] | None = None, port: int | None = None) -> Iterator[str]:
    """``mlflow server`` (or ``command`` with {port}) on ``port`` (default: a free loopback
    port); yields its URL. Its store lives in ``folder``, so a server started again there
    finds the same runs."""
    port = port or free_port()
    if command is None:
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination", str(folder / "server-artifacts"),
            "--host", "127.0.0.1", "--port", "{port}",
        ]
    command = [part.replace("{port}", str(port)) for part in command]
    log = open(folder / f"server-{port}.log", "w")
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health")
        yield url
    finally:
        import signal

        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
