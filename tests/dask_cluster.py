"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: `dask scheduler` and `dask worker`
processes started through Dask's own command line, as an instructor would start them."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """cluster.address; add_worker(); kill_scheduler(); close() stops every process it started."""

    def __init__(self, workers=2, env=None, log_dir=None, preload=None):
        self.preload, self.started = preload, 0
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.env = dict(os.environ, **(env or {}))
        self.log_dir = Path(log_dir) if log_dir else None
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                                   self.address.rsplit(":", 1)[1], "--no-dashboard"])
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
        host, port = self.address.removeprefix("tcp://").rsplit(":", 1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited with {self.scheduler.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"dask scheduler did not listen on {self.address} in {seconds} s")

    def add_worker(self, nthreads=1):
        name, self.started = f"worker-{self.started}", self.started + 1
        return self._start(name, [DASK, "worker", self.address, "--nthreads", str(nthreads), "--nworkers", "1",
                                  "--no-dashboard", "--name", name, "--death-timeout", "30"]
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
