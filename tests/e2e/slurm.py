"""A real single-node SLURM cluster on 127.0.0.1, with job accounting, for tests and CI.

Debian's ``slurm-wlm``, ``slurmdbd``, ``munge`` and ``mariadb-server`` packages, no systemd: every
daemon runs in the foreground of its own session, all state (config, spool, sockets, database,
logs) lives in one folder, and the cluster is reached through ``SLURM_CONF`` alone, so nothing
under ``/etc`` changes and several clusters may run side by side. Accounting is SLURM's own
(slurmdbd on MariaDB): ``sacct`` reports CANCELLED, TIMEOUT and NODE_FAIL, which submitit needs.

As a script (``python -m tests.e2e.slurm start FOLDER`` / ``stop FOLDER``) it starts a cluster for
a shell and prints the ``export SLURM_CONF=...`` line to use it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

NEEDED = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "mariadb-install-db", "sbatch", "sacct")
CLUSTER = "hepsweep"
SBIN = ("/usr/sbin", "/usr/bin", "/sbin")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def missing_programs() -> list[str]:
    """The cluster's programs that are not installed here."""
    return [name for name in NEEDED if _which(name) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``condition`` until it holds; a TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return max(256, total_kb // 1024 - 1024)


@dataclass
class SlurmCluster:
    """One cluster in ``root``. ``start()`` brings up munged, MariaDB, slurmdbd, slurmctld and
    slurmd, and waits until the node is idle; ``stop()`` ends them all."""

    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def user(self) -> str:
        """Who runs the daemons: the test's user (root here and in CI; other users are untested)."""
        return pwd.getpwuid(os.geteuid()).pw_name

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment a SLURM client (sbatch, sacct, submitit) needs to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    # --- configuration ---------------------------------------------------------------------------
    def _write_configs(self) -> None:
        r = self.root
        for sub in ("etc", "spool/ctld", "spool/d", "log", "run", "munge", "mysql"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        self.ports = {name: _free_port() for name in ("ctld", "d", "dbd", "mysql")}
        munge_socket = r / "munge" / "munge.socket"
        auth = f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\n"
        cpus = os.cpu_count() or 1
        (r / "etc" / "slurm.conf").write_text(
            f"ClusterName={CLUSTER}\nSlurmctldHost={self.node}(127.0.0.1)\n{auth}"
            f"SlurmUser={self.user}\nSlurmdUser={self.user}\n"
            f"SlurmctldPort={self.ports['ctld']}\nSlurmdPort={self.ports['d']}\n"
            f"StateSaveLocation={r}/spool/ctld\nSlurmdSpoolDir={r}/spool/d\n"
            f"SlurmctldPidFile={r}/run/slurmctld.pid\nSlurmdPidFile={r}/run/slurmd.pid\n"
            f"SlurmctldLogFile={r}/log/slurmctld.log\nSlurmdLogFile={r}/log/slurmd.log\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
            f"AccountingStoragePort={self.ports['dbd']}\nAccountingStoragePass={munge_socket}\n"
            # quick scheduling and cancellation; a lost node is declared down after 10 s and
            # comes back by itself when its slurmd registers again
            "SchedulerParameters=batch_sched_delay=0\nKillWait=5\nMinJobAge=600\n"
            "SlurmdTimeout=10\nReturnToService=2\nMpiDefault=none\n"
            # a job on a lost node ends NODE_FAIL, as hepsweep then retries it (SLURM would
            # otherwise requeue it after a delay of minutes)
            "JobRequeue=0\n"
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN\n"
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP\n"
        )
        dbd = r / "etc" / "slurmdbd.conf"
        dbd.write_text(
            f"{auth}DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={self.ports['dbd']}\nSlurmUser={self.user}\n"
            f"PidFile={r}/run/slurmdbd.pid\nLogFile={r}/log/slurmdbd.log\n"
            "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={self.ports['mysql']}\nStorageUser=root\nStorageLoc=slurm_acct_db\n"
        )
        dbd.chmod(0o600)  # slurmdbd refuses a config others can read

    # --- processes -------------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], user: str | None = None) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        preexec = None
        if user is not None and os.geteuid() == 0:
            entry = pwd.getpwnam(user)
            def preexec() -> None:  # noqa: E306
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True, preexec_fn=preexec
        )
        log.close()

    def _alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def _ok(self, command: list[str]) -> bool:
        try:
            return subprocess.run(command, env=self.env, capture_output=True, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _check_alive(self, name: str) -> Callable[[], bool]:
        def check() -> bool:
            if not self._alive(name):
                tail = (self.root / "log" / f"{name}.out").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{name} exited while starting: {tail}")
            return False
        return check

    def _start_munge(self) -> None:
        folder = self.root / "munge"
        user = "munge" if os.geteuid() == 0 else None
        if user:
            shutil.chown(folder, user, user)
            folder.chmod(0o755)  # munged wants its socket's folders open to all (the socket says who may use it)
        key = folder / "munge.key"  # the cluster's own key: no system key to read or share
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        if user:
            shutil.chown(key, user, user)
        self._spawn(
            "munged",
            [_which("munged") or "munged", "-F", f"--key-file={key}", f"--socket={folder}/munge.socket", f"--pid-file={folder}/munged.pid",
             f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
            user=user,
        )
        wait_for(lambda: (folder / "munge.socket").exists() or self._check_alive("munged")(), 20, "munged did not start")

    def _start_mariadb(self) -> None:
        data = self.root / "mysql"
        subprocess.run(
            [_which("mariadb-install-db") or "mariadb-install-db", f"--datadir={data}", f"--user={self.user}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )
        self._spawn(
            "mariadbd",
            [_which("mariadbd") or "mariadbd", "--no-defaults", f"--datadir={data}", f"--user={self.user}",
             f"--socket={self.root}/run/mysql.sock", f"--port={self.ports['mysql']}", "--bind-address=127.0.0.1",
             f"--pid-file={self.root}/run/mysql.pid", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
             "--innodb-log-file-size=8M"],
        )
        wait_for(lambda: self._port_open(self.ports["mysql"]) or self._check_alive("mariadbd")(), 60, "MariaDB did not start")

    @staticmethod
    def _port_open(port: int) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def start(self) -> "SlurmCluster":
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._write_configs()
        self._start_munge()
        self._start_mariadb()
        self._spawn("slurmdbd", [_which("slurmdbd") or "slurmdbd", "-D"])
        wait_for(lambda: self._port_open(self.ports["dbd"]) or self._check_alive("slurmdbd")(), 60, "slurmdbd did not start")
        # the cluster must be known to the accounting database before slurmctld registers
        self._ok(["sacctmgr", "-i", "add", "cluster", CLUSTER])
        self._spawn("slurmctld", [_which("slurmctld") or "slurmctld", "-D", "-i", "-f", str(self.conf)])
        wait_for(lambda: self._ok(["scontrol", "ping"]) or self._check_alive("slurmctld")(), 60, "slurmctld did not answer")
        self.start_slurmd()
        return self

    def start_slurmd(self) -> None:
        """Start the node's slurmd (again) and wait until the node takes jobs."""
        self._spawn("slurmd", [_which("slurmd") or "slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        wait_for(lambda: self.node_state() in ("idle", "mixed", "allocated") or self._check_alive("slurmd")(), 60,
                 "the node did not become idle")

    def node_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-n", self.node, "-o", "%T"], env=self.env, capture_output=True, text=True, timeout=10)
        return out.stdout.strip().rstrip("*~#$@")

    def kill_node(self) -> None:
        """A lost node: its slurmd and every process of the jobs it runs are killed at once
        (SIGKILL); the controller declares the node down after ``SlurmdTimeout``."""
        process = self.processes.pop("slurmd")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        mine = f"SLURM_CONF={self.conf}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            in_a_job = any(v.startswith(b"SLURM_JOB_ID=") for v in environ) or command.startswith(b"slurmstepd")
            if mine in environ and in_a_job:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def job_state(self, job_id: str) -> str:
        """The job's state as accounting reports it ('' while unknown)."""
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"], env=self.env, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip().split("\n")[0].split(" ")[0] if out.returncode == 0 else ""

    def jobs(self, states: str = "all") -> list[str]:
        """Ids (``123_0`` for array tasks) of this cluster's jobs in ``states``, per squeue."""
        out = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i"], env=self.env, capture_output=True, text=True, timeout=10)
        return out.stdout.split()

    def stop(self) -> None:
        """End every daemon (slurmd first, so running jobs end with it)."""
        if self._alive("slurmctld"):
            subprocess.run(["scancel", "-u", pwd.getpwuid(os.geteuid()).pw_name], env=self.env, capture_output=True, timeout=10)
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass


@contextmanager
def slurm_cluster(root: Path) -> Iterator[SlurmCluster]:
    """A started cluster in ``root`` for the ``with`` block."""
    cluster = SlurmCluster(Path(root))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    """``start FOLDER``: start a cluster and keep it until Ctrl-C or SIGTERM."""
    if len(argv) != 2 or argv[0] != "start":
        print("usage: python -m tests.e2e.slurm start FOLDER", file=sys.stderr)
        return 2
    missing = missing_programs()
    if missing:
        print(f"slurm: error: not installed: {', '.join(missing)} (apt-get install slurm-wlm slurmdbd munge mariadb-server)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with slurm_cluster(Path(argv[1]).resolve()) as cluster:
        print(f"export SLURM_CONF={cluster.conf}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
