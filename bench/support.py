"""What the connector benchmarks share: a simulator started in its own process, and an
instance installed and authorized through the HTTP API as a user would."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn

from service_catalog.app import create_app
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.settings import Settings


def start_simulator(module: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m module args...`` (a simulator printing ``{"url": ...}`` when it
    listens); the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"the simulator {module} did not start")
    return proc, str(json.loads(line)["url"])


def serve_app(db_url: str, key_file: str) -> tuple[Any, str, Any]:
    """The catalog app on a loopback port in a thread (for setting up through the API)."""
    settings = Settings(
        database_url=db_url, run_worker=False, key_file=key_file, bootstrap_token=False
    )
    db = Database(db_url)
    upgrade(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db=db),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("the catalog did not start")
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}", db


def install_instance(
    db_url: str, key_file: str, instance: dict[str, Any], header: str, key: str
) -> str:
    """Install ``instance`` (a ``POST /v1/integration-instances`` body) and authorize it
    with a ``multi_key_auth`` credential sending ``key`` in ``header``, through a server
    started for the purpose; the instance's id."""
    server, url, db = serve_app(db_url, key_file)
    try:
        with db.session() as s:
            _, token = create_token(s, name="bench")
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as api:
            resp = api.post("/v1/integration-instances", json=instance)
            resp.raise_for_status()
            iid = str(resp.json()["id"])
            resp = api.post(
                f"/v1/integration-instances/{iid}/auth-credential",
                json={
                    "type": "multi_key_auth",
                    "config": {"headers": [{"name": header, "key": key}]},
                },
            )
            resp.raise_for_status()
        return iid
    finally:
        server.should_exit = True
        time.sleep(0.3)
        db.dispose()
