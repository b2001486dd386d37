"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: `dask scheduler` and `dask worker`
processes started through Dask's own command line, over TLS with the keys of `course-grade
cluster-certs`, as an instructor would start them."""
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import certs

DASK = str(Path(sys.executable).parent / "dask")
QUIET = {"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "[]", "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "[]"}  # the README's


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keys(folder):
    """A folder of cluster-certs keys: made on first use."""
    folder = Path(folder)
    if not (folder / certs.CA_FILE).exists():
        certs.make(folder)
    return folder


def lets_in(address, keys_dir=None, role="worker", seconds=5):
    """Whether the scheduler at tls://address lets a peer in that shows `role`'s certificate from
    keys_dir (None: no certificate) and does not check the scheduler's own: a stranger that only
    wants in. The scheduler either breaks the handshake or waits for the peer's first message."""
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if keys_dir:
        context.load_cert_chain(Path(keys_dir) / f"{role}.pem", Path(keys_dir) / f"{role}.key")
    with socket.create_connection((host, int(port)), timeout=seconds) as raw:
        try:
            with context.wrap_socket(raw) as peer:
                if peer.recv(1) == b"":  # TLS 1.3 refuses a certificate after the handshake
                    return False
        except TimeoutError:
            return True  # in, and waited on
        except (ssl.SSLError, ConnectionError):
            return False
    return True


def tls(folder, role):
    return ["--tls-ca-file", str(folder / certs.CA_FILE), "--tls-cert", str(folder / f"{role}.pem"),
            "--tls-key", str(folder / f"{role}.key")]


class Cluster:
    """cluster.address; cluster.keys (the folder to grade with: --tls); add_worker(); kill_scheduler();
    close() stops every process it started."""

    def __init__(self, workers=2, env=None, log_dir=None, preload=None, keys_dir=None):
        self.preload, self.started = preload, 0
        self.address = f"tls://127.0.0.1:{free_port()}"
        self.env = dict(os.environ, **QUIET, **(env or {}))
        self.log_dir = Path(log_dir) if log_dir else None
        self.keys = keys(keys_dir or Path(log_dir or tempfile.mkdtemp(prefix="dask-keys-")) / "keys")
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                                   self.address.rsplit(":", 1)[1], "--protocol", "tls",
                                                   "--no-dashboard", *tls(self.keys, "scheduler")])
        self._wait_for_port()
        self.workers = []
        for _ in range(workers):
            self.workers.append(self.add_worker())

    def _start(self, name, cmd):
        if not self.log_dir:
            return subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as out:
            return subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_for_port(self, seconds=60):
        host, port = self.address.removeprefix("tls://").rsplit(":", 1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited with {self.scheduler.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"dask scheduler did not listen on {self.address} in {seconds} s")

    def add_worker(self, nthreads=1, keys_dir=None, address=None):
        """A `dask worker` process; keys_dir: its keys if not the cluster's (a stranger's)."""
        name, self.started = f"worker-{self.started}", self.started + 1
        return self._start(name, [DASK, "worker", address or self.address, "--nthreads", str(nthreads),
                                  "--nworkers", "1", "--no-dashboard", "--name", name, "--death-timeout", "30",
                                  "--local-directory", tempfile.mkdtemp(prefix="dask-worker-"),
                                  *tls(keys_dir or self.keys, "worker")]
                           + (["--preload", str(self.preload)] if self.preload else []))

    def kill_scheduler(self):
        _kill(self.scheduler)

    def close(self):
        for proc in [*self.workers, self.scheduler]:
            _kill(proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _kill(proc):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's nanny, the worker and what they started
    proc.wait()
