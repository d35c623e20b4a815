"""``service-catalog simulate traceable``: the bundled simulator as a user starts it."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from pgserver import free_port
from serveproc import CLI, cli_env


def test_simulate_traceable_serves_graphql_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    env = {**cli_env("sqlite:///unused.db", tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            CLI,
            "simulate",
            "traceable",
            "--bind",
            f"127.0.0.1:{port}",
            "--services",
            "3",
            "--endpoints",
            "2",
            "--token",
            "t0ken-abc",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.time() + 60
        while not any("Press Ctrl-C" in ln for ln in lines):
            assert time.time() < deadline and proc.poll() is None, "\n".join(lines)
            lines.append(proc.stdout.readline().rstrip())
        out = "\n".join(lines)
        base = re.search(r"^base_url: (\S+)$", out, re.MULTILINE)
        token = re.search(r"^token: +(\S+)$", out, re.MULTILINE)
        assert base and base.group(1) == f"http://127.0.0.1:{port}", out
        assert token and token.group(1) == "t0ken-abc"
        query = {
            "query": '{ entities(scope: "SERVICE", limit: 10, between: {startTime: '
            '"2024-01-01T00:00:00Z", endTime: "2024-01-02T00:00:00Z"}) '
            "{ total } }"
        }
        ok = httpx.post(
            f"{base.group(1)}/graphql",
            json=query,
            headers={"Authorization": "t0ken-abc"},
            timeout=10,
        )
        assert ok.status_code == 200, ok.text
        wrong = httpx.post(
            f"{base.group(1)}/graphql", json=query, headers={"Authorization": "nope"}, timeout=10
        )
        assert wrong.status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    assert proc.returncode == 0
