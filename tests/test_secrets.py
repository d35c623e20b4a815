"""Encryption at rest: key derivation, the generated 0600 key file, wrong keys."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from service_catalog.core import secrets
from service_catalog.core.secrets import SecretBox, SecretDecryptError, derive_fernet_key
from service_catalog.settings import Settings


def test_round_trip_and_ciphertext_hides_the_value() -> None:
    box = SecretBox("any string at all")
    value = {"headers": {"authorization": "Bearer tok-123"}, "n": 1, "u": "ü"}
    token = box.encrypt(value)
    assert "tok-123" not in token and token.isascii()
    assert box.decrypt(token) == value
    assert box.encrypt(value) != token  # fresh IV each time
    assert "any string" not in repr(box)


def test_key_derivation_is_stable_and_a_valid_fernet_key() -> None:
    key = derive_fernet_key("correct horse battery staple")
    assert key == derive_fernet_key("correct horse battery staple")
    assert key != derive_fernet_key("correct horse battery staplf")
    Fernet(key)  # raises if malformed
    with pytest.raises(ValueError):
        derive_fernet_key("")


def test_wrong_key_or_garbage_is_a_clear_error() -> None:
    token = SecretBox("one").encrypt("v")
    for bad in (token, "garbage", "gAAAAA" + "x" * 40, "ü"):
        with pytest.raises(SecretDecryptError) as err:
            SecretBox("two").decrypt(bad)
        assert "key" in str(err.value) and bad not in str(err.value)


def test_setting_wins_over_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    settings = Settings(
        secret_key="from-env", key_file=str(key_file), database_url=f"sqlite:///{tmp_path}/x.db"
    )
    assert secrets.load_secret(settings) == "from-env"
    assert not key_file.exists()
    token = secrets.get_box(settings).encrypt("v")
    assert SecretBox("from-env").decrypt(token) == "v"


def test_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/sub/catalog.db", secret_key=None, key_file=None
    )
    path = settings.resolved_key_file()
    assert path == tmp_path / "sub" / "service-catalog.key"
    first = secrets.load_secret(settings)
    assert path.exists() and len(first) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.load_secret(settings) == first  # read back, not regenerated
    assert list(path.parent.glob(".*tmp")) == []
    # a box from the file decrypts what another box from the same file encrypted
    token = SecretBox(first).encrypt({"a": 1})
    assert secrets.get_box(settings).decrypt(token) == {"a": 1}


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    settings = Settings(key_file=str(tmp_path / "race.key"), secret_key=None)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(secrets.load_secret(settings)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1


def test_world_readable_key_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "open.key"
    path.write_text("a-key-someone-wrote\n")
    path.chmod(0o644)
    settings = Settings(key_file=str(path), secret_key=None)
    assert secrets.load_secret(settings) == "a-key-someone-wrote"
    assert any("readable by others" in r.getMessage() for r in caplog.records)
    assert all("a-key-someone-wrote" not in r.getMessage() for r in caplog.records)


def test_configure_sets_the_process_default(tmp_path: Path) -> None:
    settings = Settings(secret_key="configured-key", key_file=str(tmp_path / "k"))
    old = secrets._default
    try:
        box = secrets.configure(settings)
        assert secrets.get_box() is box
    finally:
        secrets._default = old
