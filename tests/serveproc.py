"""Run the real ``service-catalog`` command as a subprocess, for CLI and operations tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from pgserver import free_port

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "service-catalog")


def cli_env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run on ``database_url`` (no colours, wide terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_CATALOG_")}
    env.update(
        {
            "SERVICE_CATALOG_DATABASE_URL": database_url,
            "SERVICE_CATALOG_KEY_FILE": str(tmp / "test.key"),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "TERM": "dumb",
        }
    )
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``service-catalog ARGS`` to completion (in ``cwd``, else this folder)."""
    return subprocess.run(
        [CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


class ServeProcess:
    """``service-catalog serve`` on a free loopback port; its output goes to files."""

    def __init__(self, env: dict[str, str], tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.args = ["serve", "--bind", f"127.0.0.1:{self.port}", "--no-worker", *args]
        n = len(list(tmp.glob("serve-*.out")))
        self.out_path = tmp / f"serve-{n}.out"
        self.err_path = tmp / f"serve-{n}.err"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServeProcess:
        """Start and wait until ``/health`` answers."""
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [CLI, *self.args], env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.stderr}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not become healthy: {self.stderr}")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
