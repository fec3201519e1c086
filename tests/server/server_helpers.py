"""Start real ``prgym serve`` processes on 127.0.0.1 for the tests (imported by name from this folder)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One ``python -m harness.cli serve`` child process; its JSON log lines are kept in ``log_path``."""

    def __init__(
        self, snapshot: Path, tasks: Path | None, log_path: Path, *extra: str, token: str | None = TOKEN
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        args = [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--catalog",
            str(snapshot),
            "--port",
            str(self.port),
        ]
        if tasks is not None:
            args += ["--tasks", str(tasks)]
        args += ["--token", token] if token else ["--insecure-no-auth"]
        args += list(extra)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("PRGYM_SERVER_TOKEN", None)
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prgym serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prgym serve did not become ready:\n{self.log_path.read_text()}")

    def health(self) -> dict:
        return httpx.get(self.url + "/healthz", timeout=5.0).json()

    def log_events(self) -> list[dict]:
        events = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything (as on a crashed node)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout_s)
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
