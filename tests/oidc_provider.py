"""A real OpenID Connect provider for tests: the npm package ``oidc-provider``, installed
with ``npm install`` into a cache folder on first use and started on a loopback port (in the
way tests/pgserver.py starts PostgreSQL), plus a browserless "browser" that signs in
through it by submitting its login and consent forms."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from pgserver import free_port

OIDC_PROVIDER_VERSION = "9.13.3"
SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"


def cache_dir() -> Path:
    """Where ``oidc-provider`` is installed once per machine and version."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "service-catalog-tests" / f"oidc-provider-{OIDC_PROVIDER_VERSION}"


def install() -> Path:
    """``node_modules`` holding the pinned ``oidc-provider`` (installed on first use; a lock
    keeps parallel test workers from installing twice)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / ".installed"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is not installed (make system-deps installs it)")
            (folder / "package.json").write_text(
                json.dumps(
                    {
                        "private": True,
                        "type": "module",
                        "dependencies": {"oidc-provider": OIDC_PROVIDER_VERSION},
                    }
                )
            )
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                check=True,
                capture_output=True,
                timeout=600,
            )
            done.touch()
    return folder / "node_modules"


class OidcProvider:
    """``oidc-provider`` serving on ``127.0.0.1:<port>`` with one confidential client.

    ``accounts`` maps a login to its claims (``email``, ``name``, ``groups``...); change them
    with :meth:`set_account` between sign-ins. :meth:`publish_other_key` makes the JWKS
    endpoint publish another key than the one that signs."""

    def __init__(
        self,
        *,
        redirect_uris: list[str],
        client_id: str = "service-catalog",
        client_secret: str = "client-secret-for-tests",
        port: int | None = None,
        issuer: str | None = None,
    ) -> None:
        self.node_modules = install()
        self.tmp = Path(tempfile.mkdtemp(prefix="sc-oidc-"))
        # ESM resolves packages from the script's folder: run a copy next to node_modules
        (self.tmp / "node_modules").symlink_to(self.node_modules)
        shutil.copy(SCRIPT, self.tmp / "provider.mjs")
        self.port = port or free_port()
        self.issuer = issuer or f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = client_secret
        self.state_file = self.tmp / "state.json"
        self.state: dict[str, Any] = {"accounts": {}, "publish_other_key": False}
        self._write_state()
        self.config = {
            "port": self.port,
            "issuer": self.issuer,
            "clients": [
                {
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "redirect_uris": redirect_uris,
                }
            ],
            "state_file": str(self.state_file),
        }
        (self.tmp / "config.json").write_text(json.dumps(self.config))
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def _write_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        tmp.replace(self.state_file)  # atomic: the provider never reads half a file

    def set_account(self, login: str, **claims: Any) -> None:
        """Create or replace the account ``login`` with these claims."""
        self.state["accounts"][login] = claims
        self._write_state()

    def publish_other_key(self, on: bool = True) -> None:
        """Publish (or stop publishing) a key other than the signing one at the JWKS URI."""
        self.state["publish_other_key"] = on
        self._write_state()

    def start(self, timeout: float = 30) -> OidcProvider:
        """Start node; returns once the discovery document is served."""
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed (make system-deps installs it)")
        self.proc = subprocess.Popen(
            [node, str(self.tmp / "provider.mjs"), str(self.tmp / "config.json")],
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("oidc-provider exited:\n" + "".join(self.output))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("oidc-provider did not start:\n" + "".join(self.output))
            time.sleep(0.05)

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self) -> None:
        """Stop node and remove the provider's files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a browser without a browser ------------------------------------------------------


class _Forms(HTMLParser):
    """The forms of a page: action, method and input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    """Every form of ``html``."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def follow(
    browser: httpx.Client,
    response: httpx.Response,
    *,
    login: str,
    stop_at: str,
    tamper: Any = None,
) -> httpx.Response:
    """Follow redirects and fill the provider's login (``login``, any password) and consent
    forms, until a response to a URL starting with ``stop_at`` (the catalog's callback),
    which is returned (the redirect to it is followed, the catalog's answer is not).
    ``tamper(url) -> url`` may change each redirect URL before it is followed."""
    for _ in range(20):
        if str(response.request.url).startswith(stop_at):
            return response
        if response.is_redirect:
            target = urljoin(str(response.request.url), response.headers["location"])
            if tamper is not None:
                target = tamper(target)
            response = browser.get(target)
            continue
        forms = forms_of(response.text) if response.status_code == 200 else []
        if not forms:
            raise AssertionError(
                f"unexpected page at {response.request.url}: {response.status_code} "
                f"{response.text[:500]}"
            )
        form = forms[0]
        fields = dict(form["fields"])
        if "login" in fields:
            fields.update(login=login, password="any")
        action = urljoin(str(response.request.url), form["action"])
        response = browser.post(action, data=fields)
    raise AssertionError("too many steps signing in")
