"""Encryption of secrets at rest (credential header values, OAuth secrets).

The key is ``SERVICE_CATALOG_SECRET_KEY`` (any string; a Fernet key is derived from it
with HKDF-SHA256), or, when that is unset, a random key generated once into the key file
(``Settings.resolved_key_file()``: ``SERVICE_CATALOG_KEY_FILE``, default next to the SQLite
database) with mode 0600. Every process sharing a database must use the same key.

Plaintext secrets exist only in memory; nothing here logs a value.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets as pysecrets
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.secrets")

_SALT = b"service-catalog/secrets"
_INFO = b"fernet-v1"


class SecretDecryptError(Exception):
    """A stored secret cannot be decrypted with the configured key (the key changed?)."""


def derive_fernet_key(secret: str) -> bytes:
    """A Fernet key (32 bytes, base64url) derived from an arbitrary secret string."""
    if not secret:
        raise ValueError("the secret key must not be empty")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def derive_subkey(secret: str, purpose: str) -> bytes:
    """32 raw bytes for one ``purpose`` (e.g. signing cursors), derived from the server
    secret with HKDF-SHA256 under its own label: independent of the encryption key and of
    every other purpose's key."""
    if not secret:
        raise ValueError("the secret key must not be empty")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=_SALT, info=f"subkey:{purpose}".encode()
    ).derive(secret.encode("utf-8"))


class SecretBox:
    """Encrypts JSON-serialisable values to opaque text tokens and back."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(derive_fernet_key(secret))

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, value: Any) -> str:
        """An opaque token (ASCII) holding ``value`` encrypted and authenticated."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> Any:
        """The value inside a token made by :meth:`encrypt` with the same key.

        Raises :class:`SecretDecryptError` (never showing the token) otherwise.
        """
        try:
            data = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError, AttributeError):
            raise SecretDecryptError(
                "A stored secret cannot be decrypted with the configured key; was "
                "SERVICE_CATALOG_SECRET_KEY or the key file changed?"
            ) from None
        return json.loads(data.decode("utf-8"))


def _read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` (0600) unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(pysecrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic: fails when the key file already exists
            log.warning(
                "Generated a new secret key into %s (mode 0600); back it up: "
                "credentials cannot be decrypted without it",
                path,
            )
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def load_secret(settings: Settings) -> str:
    """The secret string from settings, or from the key file (created on first use)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.resolved_key_file()
    for _ in range(50):
        secret = _read_key_file(path)
        if secret:
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                log.warning(
                    "The key file %s is readable by others (mode %o); chmod 600 it", path, mode
                )
            return secret
        if not path.exists():
            _create_key_file(path)
        else:
            time.sleep(0.02)  # another process is writing it
    raise RuntimeError(f"The key file {path} exists but is empty")


_boxes: dict[tuple[str | None, str], SecretBox] = {}
_default: SecretBox | None = None
_lock = threading.Lock()


def get_box(settings: Settings | None = None) -> SecretBox:
    """The secret box for ``settings``; without settings, the one set by :func:`configure`
    or else the one of the environment's settings."""
    if settings is None:
        if _default is not None:
            return _default
        settings = Settings()
    cache_key = (settings.secret_key or None, str(settings.resolved_key_file()))
    with _lock:
        box = _boxes.get(cache_key)
        if box is None:
            box = SecretBox(load_secret(settings))
            _boxes[cache_key] = box
        return box


def configure(settings: Settings) -> SecretBox:
    """Make ``settings``' box the process default for :func:`get_box` without arguments."""
    global _default
    box = get_box(settings)
    _default = box
    return box


__all__ = [
    "SecretBox",
    "SecretDecryptError",
    "configure",
    "derive_fernet_key",
    "derive_subkey",
    "get_box",
    "load_secret",
]
