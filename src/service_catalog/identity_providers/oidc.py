"""Signing in through an OpenID Connect provider: the authorization-code flow with PKCE.

:func:`begin` discovers the provider (``{issuer}/.well-known/openid-configuration``, whose
``issuer`` must be the configured one), keeps the sign-in's ``state`` (hashed) with its
``nonce`` and PKCE verifier (encrypted) server-side for :data:`STATE_TTL`, and gives the
authorization URL (``code_challenge_method=S256``). :func:`consume_state` takes a state
back exactly once. :func:`finish` exchanges the code at the token endpoint (with the client
secret) and accepts the ID token only when its signature verifies against a key of the
provider's JWKS (asymmetric algorithms only), ``iss`` is the configured issuer, ``aud``
holds the client id, ``nonce`` is the one sent and it has not expired; claims missing from
it are read from the userinfo endpoint (whose ``sub`` must match). Every request to the
provider passes the upstream origin policy (:mod:`core.outbound`).

Anything wrong raises :class:`SignInRefused`, whose detail names what, never a token, a
code or a secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.orm import Session

from service_catalog.auth.service import hash_token
from service_catalog.core.db import utcnow
from service_catalog.core.outbound import OutboundRefused, check_request_url
from service_catalog.core.secrets import SecretBox
from service_catalog.identity_providers.models import IdentityProvider, OidcLoginState
from service_catalog.identity_providers.service import (
    claim_mappings,
    client_secret_of,
    scopes_of,
)
from service_catalog.identity_providers.sign_in import SignInClaims, SignInRefused

STATE_TTL = dt.timedelta(minutes=10)
#: Signature algorithms accepted on an ID token: asymmetric ones only (never ``none``, and
#: no HMAC keyed by the client secret), so only the provider's keys can sign one.
ID_TOKEN_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
CLOCK_LEEWAY_SECONDS = 60
MAX_GROUPS = 1000


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints a sign-in uses, from the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


def _check_outbound(request: httpx.Request) -> None:
    check_request_url(str(request.url))


def client(*, timeout: float) -> httpx.Client:
    """An HTTP client for talking to identity providers: every request passes the upstream
    origin policy, redirects are not followed."""
    return httpx.Client(
        timeout=timeout, follow_redirects=False, event_hooks={"request": [_check_outbound]}
    )


def _get_json(http: httpx.Client, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        # withhold_token: Authlib's client would otherwise insist on a token of its own
        resp = http.get(url, headers={"Accept": "application/json"}, **kwargs)
    except OutboundRefused as exc:
        raise SignInRefused(502, "provider_refused_by_policy", f"The {what} URL {exc}") from None
    except httpx.HTTPError as exc:
        raise SignInRefused(
            502,
            "provider_unreachable",
            f"The identity provider's {what} is unreachable: {type(exc).__name__}",
        ) from None
    if resp.status_code != 200:
        raise SignInRefused(
            502, "provider_error", f"The identity provider's {what} answered {resp.status_code}"
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SignInRefused(
            502, "provider_error", f"The identity provider's {what} is not a JSON object"
        )
    return body


def discover(http: httpx.Client, idp: IdentityProvider) -> ProviderMetadata:
    """The provider's endpoints; refused when its discovery document names another issuer."""
    url = idp.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
    doc = _get_json(http, url, "discovery document")
    if doc.get("issuer") != idp.issuer_url:
        raise SignInRefused(
            502,
            "issuer_mismatch",
            "The identity provider's discovery document names another issuer than the "
            "configured issuer_url",
        )
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            raise SignInRefused(
                502, "provider_error", f"The identity provider's discovery document has no {key}"
            )
        endpoints[key] = value
    userinfo = doc.get("userinfo_endpoint")
    return ProviderMetadata(
        issuer=idp.issuer_url,
        userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
        **endpoints,
    )


@dataclass(frozen=True)
class StartedSignIn:
    """A sign-in just started: where to send the browser, and what to keep until it
    comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


def begin(http: httpx.Client, idp: IdentityProvider, *, redirect_uri: str) -> StartedSignIn:
    """Start a sign-in: the authorization URL (with a new ``state``, ``nonce`` and PKCE
    challenge). Asks the provider for its discovery document; writes nothing."""
    metadata = discover(http, idp)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        idp.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(scopes_of(idp)),
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),  # type: ignore[no-untyped-call]
        code_challenge_method="S256",
    )
    return StartedSignIn(url=url, state=state, nonce=nonce, verifier=verifier)


def remember(
    session: Session,
    idp: IdentityProvider,
    started: StartedSignIn,
    *,
    return_to: str | None,
    box: SecretBox,
) -> None:
    """Keep a started sign-in for :data:`STATE_TTL` (its state hashed, nonce and verifier
    encrypted); sign-ins that expired are dropped."""
    now = utcnow()
    session.execute(delete(OidcLoginState).where(OidcLoginState.expires_at < now))
    session.add(
        OidcLoginState(
            state_hash=hash_token(started.state),
            idp_id=idp.id,
            secrets=box.encrypt({"nonce": started.nonce, "verifier": started.verifier}),
            return_to=return_to,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    )


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in's server-side half, taken back by its ``state``."""

    nonce: str
    verifier: str
    return_to: str | None


def consume_state(
    session: Session, idp: IdentityProvider, state: str, box: SecretBox
) -> PendingSignIn:
    """The sign-in ``state`` belongs to, deleted so it can never be used again; refused when
    it is unknown, already used, expired or was started for another provider."""
    row = session.get(OidcLoginState, hash_token(state)) if state else None
    if row is None:
        raise SignInRefused(
            400, "unknown_state", "Unknown or already used sign-in state; start signing in again"
        )
    session.delete(row)
    session.flush()
    if row.idp_id != idp.id:
        raise SignInRefused(400, "state_of_other_provider", "The sign-in state is another's")
    if row.expires_at <= utcnow():
        raise SignInRefused(400, "expired_state", "The sign-in took too long; start again")
    kept = box.decrypt(row.secrets)
    return PendingSignIn(nonce=kept["nonce"], verifier=kept["verifier"], return_to=row.return_to)


def _validate_id_token(
    id_token: str, keys: dict[str, Any], idp: IdentityProvider, nonce: str
) -> dict[str, Any]:
    try:
        keyset = KeySet.import_key_set(keys)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise SignInRefused(
            502, "provider_error", "The identity provider's JWKS is not usable"
        ) from None
    try:
        token = jwt.decode(id_token, keyset, algorithms=list(ID_TOKEN_ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SignInRefused(
            401,
            "bad_signature",
            f"The ID token is not signed by a key of the identity provider ({type(exc).__name__})",
        ) from None
    claims = dict(token.claims)
    if claims.get("iss") != idp.issuer_url:
        raise SignInRefused(401, "issuer_mismatch", "The ID token was issued by another issuer")
    if claims.get("nonce") != nonce:
        raise SignInRefused(401, "nonce_mismatch", "The ID token's nonce is not this sign-in's")
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": idp.issuer_url},
        aud={"essential": True, "value": idp.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SignInRefused(
            401, "invalid_id_token", f"The ID token is not valid for this client ({exc})"
        ) from None
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != idp.client_id:
        raise SignInRefused(401, "invalid_id_token", "The ID token is for another party (azp)")
    return claims


def _claims_from(raw: dict[str, Any], idp: IdentityProvider) -> SignInClaims:
    mapping = claim_mappings(idp)
    groups_value = raw.get(mapping.groups)
    if isinstance(groups_value, str):
        groups = [groups_value]
    elif isinstance(groups_value, list):
        groups = [g for g in groups_value if isinstance(g, str) and g][:MAX_GROUPS]
    else:
        groups = []
    email = raw.get(mapping.email)
    name = raw.get(mapping.name)
    return SignInClaims(
        subject=str(raw["sub"]),
        email=email if isinstance(email, str) and email else None,
        name=name if isinstance(name, str) and name else None,
        groups=sorted(set(groups)),
    )


def _token_request(
    http: httpx.Client,
    idp: IdentityProvider,
    box: SecretBox,
    token_endpoint: str,
    *,
    code: str,
    verifier: str,
    redirect_uri: str,
) -> dict[str, Any]:
    """Exchange the code (client_secret_basic, or the client id alone for a public client)."""
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
    )
    secret = client_secret_of(idp, box)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if secret is not None:  # RFC 6749 2.3.1: both form-urlencoded, then Basic
        pair = f"{quote(idp.client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        body += "&client_id=" + quote(idp.client_id, safe="")
    try:
        resp = http.post(
            token_endpoint,
            content=body,
            headers=headers,
        )
    except OutboundRefused as exc:
        raise SignInRefused(502, "provider_refused_by_policy", f"The token URL {exc}") from None
    except httpx.HTTPError as exc:
        raise SignInRefused(
            502, "provider_unreachable", f"The token request failed: {type(exc).__name__}"
        ) from None
    try:
        token = resp.json()
    except ValueError:
        token = None
    if not isinstance(token, dict):
        raise SignInRefused(502, "provider_error", "The token endpoint did not answer JSON")
    if resp.status_code != 200:
        error = str(token.get("error") or resp.status_code)[:100]
        raise SignInRefused(
            401, "token_request_refused", f"The identity provider refused the code ({error})"
        )
    return token


def finish(
    idp: IdentityProvider,
    http: httpx.Client,
    pending: PendingSignIn,
    *,
    code: str,
    redirect_uri: str,
    iss: str | None,
    box: SecretBox,
) -> SignInClaims:
    """Exchange ``code`` and validate the ID token; the person's claims."""
    if iss is not None and iss != idp.issuer_url:
        # RFC 9207: the authorization response says who issued it (a mix-up defence)
        raise SignInRefused(
            400, "issuer_mismatch", "The authorization response comes from another issuer"
        )
    metadata = discover(http, idp)
    token = _token_request(
        http,
        idp,
        box,
        metadata.token_endpoint,
        code=code,
        verifier=pending.verifier,
        redirect_uri=redirect_uri,
    )
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused(401, "no_id_token", "The identity provider returned no ID token")
    claims = _validate_id_token(
        id_token, _get_json(http, metadata.jwks_uri, "JWKS"), idp, pending.nonce
    )
    access_token = token.get("access_token")
    if metadata.userinfo_endpoint and isinstance(access_token, str):
        info = _get_json(http, metadata.userinfo_endpoint, "userinfo", auth=_Bearer(access_token))
        if info.get("sub") == claims["sub"]:
            claims = {**info, **claims}
    return _claims_from(claims, idp)


class _Bearer(httpx.Auth):
    """The access token on the userinfo request (and nowhere else)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request
