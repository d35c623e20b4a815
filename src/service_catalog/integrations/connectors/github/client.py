"""GitHub's REST API as the connector speaks it: authentication (a token, or a GitHub App
installation whose tokens are minted from the App's key and refreshed before they
expire), rate limits (``X-RateLimit-*``, secondary limits as 403/429 with
``Retry-After``), Link-header paging and conditional requests (``If-None-Match``; a 304
does not count against GitHub's limit)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from joserfc import jwt
from joserfc.jwk import RSAKey

from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    RateLimits,
    UpstreamHTTP,
    decode_json,
    retry_after_seconds,
    usable_base_url,
)

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
#: Mint a new installation token when the current one expires within this.
REFRESH_BEFORE = dt.timedelta(minutes=5)


class GitHubLimits(RateLimits):
    """GitHub's limits: a 403 or 429 with ``Retry-After`` or ``X-RateLimit-Remaining: 0``
    is a rate limit, waited out (until ``X-RateLimit-Reset``); a wait longer than the
    client's ``max_sleep`` ends the sync with ``rate_limited`` and the wait as
    ``retry_after`` instead of sleeping through it."""

    def throttled(self, resp: httpx.Response, http: UpstreamHTTP) -> bool:
        """GitHub's primary and secondary rate limits."""
        if resp.status_code not in (403, 429):
            return False
        limited = resp.status_code == 429 or "retry-after" in resp.headers
        limited = limited or resp.headers.get("x-ratelimit-remaining") == "0"
        if limited:
            wait = self.wait_of(resp)
            if wait is not None and wait > http.max_sleep:
                raise http._fail(
                    ConnectorError(
                        "rate_limited",
                        f"GitHub's rate limit is exhausted for {int(wait)} more seconds "
                        f"(HTTP {resp.status_code})",
                        remediation="The next sync waits until GitHub's limit resets.",
                        retry_after=wait,
                        status=resp.status_code,
                    )
                )
        return limited

    def wait_of(self, resp: httpx.Response) -> float | None:
        """``Retry-After``, else until ``X-RateLimit-Reset``, else a minute (GitHub's advice
        for a secondary limit without either)."""
        wait = retry_after_seconds(resp.headers.get("retry-after"))
        if wait is not None:
            return wait
        reset = resp.headers.get("x-ratelimit-reset")
        if reset and reset.isdigit() and resp.headers.get("x-ratelimit-remaining") == "0":
            return max(0.0, int(reset) - time.time()) + 1.0
        return None


@dataclass
class Answer:
    """One GET's answer: status, ETag, body (None on 304 or 404) and the next page."""

    status: int
    etag: str | None
    body: Any
    next_url: str | None


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a Link header."""
    if not header:
        return None
    for part in header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class GitHubClient:
    """Authenticated GETs against one GitHub API base URL."""

    def __init__(self, http: UpstreamHTTP, base_url: str, credential: Credential | None) -> None:
        http.limits = GitHubLimits()
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self._token: str | None = None
        self._expires: dt.datetime | None = None
        self._lock = threading.Lock()
        #: Requests sent and 304s received (for benchmarks and tests).
        self.sent = 0
        self.not_modified = 0
        #: When a list, every GET's URL is appended to it (benchmarks replay them).
        self.trace: list[str] | None = None

    # --- auth ------------------------------------------------------------------------

    @property
    def is_app(self) -> bool:
        """Whether the credential is a GitHub App installation."""
        return self.credential is not None and self.credential.type == "github_app_installation"

    def _authorization(self, *, refresh: bool = False) -> str:
        cred = self.credential
        if cred is None:
            raise ConnectorError("auth", "The instance has no credential")
        if not self.is_app:
            value = next(iter(cred.headers.values()), "").strip()
            return value if " " in value else f"Bearer {value}"
        with self._lock:
            now = dt.datetime.now(dt.UTC)
            expires = self._expires
            if refresh or self._token is None or expires is None or expires - now < REFRESH_BEFORE:
                self._mint(now)
            return f"Bearer {self._token}"

    def app_jwt(self, now: dt.datetime) -> str:
        """The App's JWT (RS256, issued a minute back against clock drift, 9 minutes)."""
        cred = self.credential
        assert cred is not None
        try:
            key = RSAKey.import_key(str(cred.values.get("private_key") or ""))
        except Exception:  # joserfc raises several types for a key it cannot read
            raise ConnectorError(
                "auth",
                "The GitHub App's private key cannot be read as an RSA key",
                remediation="Replace the credential with the App's private key (PEM).",
            ) from None
        stamp = int(now.timestamp())
        claims = {"iat": stamp - 60, "exp": stamp + 540, "iss": str(cred.values.get("app_id"))}
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, key)

    def _mint(self, now: dt.datetime) -> None:
        cred = self.credential
        assert cred is not None
        installation = str(cred.values.get("installation_id") or "")
        url = f"{self.base_url}/app/installations/{installation}/access_tokens"
        token = self.app_jwt(now)
        with usable_base_url():
            resp = self.http.request(
                "POST",
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": ACCEPT,
                    "X-GitHub-Api-Version": API_VERSION,
                },
            )
        self.sent += 1
        if resp.status_code == 404:
            raise self.http._fail(
                ConnectorError(
                    "auth",
                    f"GitHub knows no installation {installation} of this App (HTTP 404)",
                    remediation="Check the installation id and that the App is installed.",
                    status=404,
                )
            )
        if resp.status_code != 201:
            raise ConnectorError(
                "upstream",
                f"GitHub answered HTTP {resp.status_code} to the installation token request",
                status=resp.status_code,
            )
        body = self._json(resp)
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise ConnectorError("malformed", "GitHub's installation token answer has no token")
        self._token = body["token"]
        # The minted token is a secret too: never in an error's excerpt.
        self.http._secrets.append(self._token)
        try:
            self._expires = dt.datetime.fromisoformat(str(body.get("expires_at")))
        except ValueError:
            self._expires = now + dt.timedelta(minutes=55)

    # --- requests --------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The absolute URL of an API path (an absolute URL stays as it is)."""
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def key(self, url: str) -> str:
        """A URL as state keys name it: relative to the base URL."""
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def get(
        self,
        path: str,
        *,
        etag: str | None = None,
        allow: tuple[int, ...] = (),
        shape: msgspec.json.Decoder[Any] | None = None,
    ) -> Answer:
        """GET ``path`` (conditionally when ``etag``); 404 and the ``allow``ed statuses
        are answers (body None for 304 and 404), other failures ConnectorError. ``shape``:
        decode the body into only the fields it names."""
        url = self.url(path)
        if self.trace is not None:
            self.trace.append(url)
        refreshed = False
        while True:
            headers = {
                "Authorization": self._authorization(refresh=refreshed),
                "Accept": ACCEPT,
                "X-GitHub-Api-Version": API_VERSION,
            }
            if etag:
                headers["If-None-Match"] = etag
            with usable_base_url():
                try:
                    resp = self.http.request(
                        "GET", url, headers=headers, allow_status=(401, *allow)
                    )
                finally:
                    self.sent += 1
            if resp.status_code == 401:
                if self.is_app and not refreshed:  # a revoked installation token: once more
                    refreshed = True
                    continue
                raise self.http._fail(
                    ConnectorError(
                        "auth",
                        "GitHub rejected the credential (HTTP 401: "
                        f"{self.http.excerpt(resp, headers) or 'Bad credentials'})",
                        remediation="Replace the instance's auth credential with a valid token.",
                        status=401,
                    )
                )
            break
        self._respect_limit(resp)
        nxt = next_link(resp.headers.get("link"))
        if resp.status_code == 304:
            self.not_modified += 1
            return Answer(304, resp.headers.get("etag") or etag, None, nxt)
        if resp.status_code in (404, *allow):
            return Answer(resp.status_code, None, None, None)
        if resp.status_code != 200:
            raise ConnectorError(
                "upstream",
                f"GitHub answered HTTP {resp.status_code} to GET {self.key(url).split('?')[0]}",
                status=resp.status_code,
            )
        return Answer(200, resp.headers.get("etag"), self._json(resp, shape), nxt)

    def _json(self, resp: httpx.Response, shape: msgspec.json.Decoder[Any] | None = None) -> Any:
        if shape is not None:
            try:
                return shape.decode(resp.content)
            except msgspec.ValidationError:
                pass  # valid JSON of another shape than expected: decoded in full below
            except msgspec.DecodeError:
                raise self._not_json(resp) from None
        try:
            return decode_json(resp.content)
        except ValueError:
            raise self._not_json(resp) from None

    @staticmethod
    def _not_json(resp: httpx.Response) -> ConnectorError:
        return ConnectorError(
            "malformed",
            f"GitHub sent a body that is not JSON (HTTP {resp.status_code}, "
            f"{len(resp.content)} bytes)",
        )

    def _respect_limit(self, resp: httpx.Response) -> None:
        """Wait for the reset when this answer spent the last request of the window."""
        if resp.headers.get("x-ratelimit-remaining") != "0":
            return
        reset = resp.headers.get("x-ratelimit-reset", "")
        if not reset.isdigit():
            return
        wait = int(reset) - time.time() + 1.0
        if wait <= 0:
            return
        if wait > self.http.max_sleep:
            raise ConnectorError(
                "rate_limited",
                f"GitHub's rate limit is spent until {reset} (epoch seconds)",
                remediation="The next sync waits until GitHub's limit resets.",
                retry_after=wait,
            )
        time.sleep(wait)
