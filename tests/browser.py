"""Browser tests' helpers: Debian's Chromium driven headless by Playwright (never a
downloaded browser: ``executable_path`` is the system binary), axe-core (the npm package,
installed once per machine into the cache folder, like ``oidc-provider``) injected into a
page, and screenshots of each test's final page under the pytest output folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_VERSION = "4.10.3"


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium``, installed by ``make system-deps``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def axe_script() -> Path:
    """``axe.min.js`` of the pinned axe-core (installed with npm on first use)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "service-catalog-tests" / f"axe-core-{AXE_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / ".installed"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is not installed (make system-deps installs it)")
            (folder / "package.json").write_text(
                json.dumps({"private": True, "dependencies": {"axe-core": AXE_VERSION}})
            )
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                check=True,
                capture_output=True,
                timeout=600,
            )
            done.touch()
    return folder / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2 A/AA
    rules and best practices), each with its rule id, help and first failing targets."""
    page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"][:3]],
        }
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save the full page as ``<folder>/<name>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
