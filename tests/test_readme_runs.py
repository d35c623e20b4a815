"""Every shell block of the README runs as written, in order, against a catalog and the
bundled Traceable simulator started here the way the README starts them.

The blocks run in one bash script (``set -euo pipefail``) in which ``curl`` fails on
any HTTP error (``--fail-with-body``), so a README step that answers 4xx or 5xx fails
this test. What the test changes, and only this: the catalog's and the simulator's
loopback addresses (``127.0.0.1:8080``, ``127.0.0.1:8090``) become the free ports it
started them on, and ``TOKEN=spat_...`` comes from the token the catalog printed on its
first start. A block preceded by ``<!-- readme-test: skip (why) -->`` is not run; the
reasons are checked to be the ones expected (make, a server that runs until Ctrl-C).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import IN_CI
from pgserver import free_port
from serveproc import CLI, ROOT, ServeProcess, cli_env

README = ROOT / "README.md"
BLOCK = re.compile(
    r"(<!-- readme-test: skip \((?P<why>[^)]*)\) -->\n)?```(?P<lang>\w*)\n"
    r"(?P<body>.*?)```",
    re.DOTALL,
)
TOKEN = re.compile(r"(?:scat|spat|kpat)_[A-Za-z0-9_\-]{20,}")


def shell_blocks() -> tuple[list[str], list[str]]:
    """(blocks to run, reasons of the skipped ones), in README order."""
    run, skipped = [], []
    for m in BLOCK.finditer(README.read_text()):
        if m.group("lang") not in ("sh", "bash", "shell"):
            continue
        if m.group("why"):
            skipped.append(m.group("why"))
        else:
            run.append(m.group("body"))
    return run, skipped


def test_readme_skips_only_what_cannot_run_here() -> None:
    run, skipped = shell_blocks()
    assert len(run) >= 3
    assert len(skipped) == 2, skipped
    assert any("make" in why for why in skipped)
    assert any("Ctrl-C" in why for why in skipped)


def test_every_readme_shell_block_runs(tmp_path: Path) -> None:
    missing = [tool for tool in ("curl", "jq", "bash") if shutil.which(tool) is None]
    if missing:
        message = f"the README's shell blocks need {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    env = cli_env(
        f"sqlite:///{tmp_path / 'service-catalog.db'}",
        tmp_path,
        SERVICE_CATALOG_WORKER_POLL_SECONDS="0.5",
    )
    sim_port = free_port()
    sim = subprocess.Popen(
        [CLI, "simulate", "traceable", "--bind", f"127.0.0.1:{sim_port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert sim.stdout is not None
        deadline = time.time() + 60
        line = ""
        while "Press Ctrl-C" not in line:
            assert time.time() < deadline and sim.poll() is None, "the simulator did not start"
            line = sim.stdout.readline()
        catalog = ServeProcess(env, tmp_path)
        catalog.args.remove("--no-worker")  # the README's flow syncs in the background
        with catalog:
            token = TOKEN.findall(catalog.stdout)
            assert len(token) == 1, catalog.stdout
            script = readme_script(catalog.url, f"http://127.0.0.1:{sim_port}")
            (tmp_path / "readme.sh").write_text(script)
            ran = subprocess.run(
                ["bash", str(tmp_path / "readme.sh")],
                cwd=ROOT,
                env={**env, "TOKEN": token[0]},
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            assert ran.returncode == 0, (
                f"a README step failed:\n{ran.stderr[-3000:]}\noutput:\n{ran.stdout[-3000:]}"
            )
            check_outcome(catalog.url, token[0])
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(15)


def readme_script(api: str, traceable: str) -> str:
    """The README's runnable shell blocks as one script, pointed at this test's servers."""
    run, _ = shell_blocks()
    body = "\n".join(run)
    body = re.sub(
        r"^TOKEN=spat_\.\.\..*$", ": token from the environment", body, flags=re.MULTILINE
    )
    body = body.replace("http://127.0.0.1:8080", api).replace("http://127.0.0.1:8090", traceable)
    assert "127.0.0.1:80" not in body, "a README block names another local address"
    return (
        "set -euo pipefail\n"
        'curl() { command curl --fail-with-body --max-time 30 "$@"; echo; }\n' + body
    )


def check_outcome(api: str, token: str) -> None:
    """What a user following the README has at the end."""
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        svc = c.get("/v1/catalog-services/user-svc").json()
        assert svc["labels"] == {"env": "prod"}
        inst = c.get("/v1/integration-instances/traceable-prod").json()
        assert inst["authorized"] is True
        mapped = c.get("/v1/catalog-services/user-svc/resources").json()["data"]
        assert [r["config"]["service_id"] for r in mapped] == ["svc-00001"]
        assert mapped[0]["name"], "the mapped resource was synced from the simulator"
        events = c.get(
            "/v1/integration-events", params={"filter[type]": "deployment.finished"}
        ).json()["data"]
        assert [e["deduplication_id"] for e in events] == ["deploy-42"]
