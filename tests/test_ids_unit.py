"""Resource ids, content hashes and canonical JSON (``resources/ids.py``) without a server.

Ids are stored and handed to users, so the golden values below must never change."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from service_catalog.resources import ids

INSTANCE = uuid.UUID("7f3b2c1e-0000-4000-8000-000000000001")


def test_canonical_json_is_sorted_compact_and_unicode() -> None:
    value = {"b": [1, 2.5, None, True], "a": {"é": "ü", "c": 'x"y'}}
    text = ids.canonical_json(value)
    assert text == '{"a":{"c":"x\\"y","é":"ü"},"b":[1,2.5,null,true]}'
    assert isinstance(text, str)
    assert ids.canonical_json_bytes(value) == text.encode()
    assert json.loads(text) == value


def test_canonical_json_falls_back_to_the_strict_encoder() -> None:
    # orjson refuses integers beyond 64 bits: the strict encoder writes the same shape.
    assert ids.canonical_json({"n": 2**64, "a": "é"}) == '{"a":"é","n":18446744073709551616}'
    assert ids.canonical_json_bytes({"n": 2**64}) == b'{"n":18446744073709551616}'
    assert ids.canonical_json({"n": -(2**63)}) == '{"n":-9223372036854775808}'
    # A real null next to a value orjson handles is kept (not routed through the fallback).
    assert ids.canonical_json([None, 1.5]) == "[null,1.5]"
    # Other types are written as their str(), by either encoder.
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert ids.canonical_json({"t": when}) == '{"t":"2024-01-02 03:04:05+00:00"}'
    assert (
        ids.canonical_json({"t": when, "n": 2**64})
        == '{"n":18446744073709551616,"t":"2024-01-02 03:04:05+00:00"}'
    )
    assert ids.canonical_json({"u": INSTANCE}) == f'{{"u":"{INSTANCE}"}}'
    # orjson writes what it can (its float text differs from the json module's: 1e-7 vs
    # 1e-07), including values beside a datetime or a tuple
    assert ids.canonical_json({"f": 1e-7}) == '{"f":1e-7}'
    assert ids.canonical_json({"t": when, "f": 1e-7}) == (
        '{"f":1e-7,"t":"2024-01-02 03:04:05+00:00"}'
    )
    assert ids.canonical_json({"f": (1e-7, 2)}) == '{"f":[1e-7,2]}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_canonical_json_refuses_nan_and_infinities(bad: float) -> None:
    for value in ({"v": bad}, [None, bad], bad):
        with pytest.raises(ValueError):
            ids.canonical_json(value)
        with pytest.raises(ValueError):
            ids.canonical_json_bytes(value)


def test_canonical_json_bytes_refuses_lone_surrogates() -> None:
    assert ids.canonical_json({"s": "\ud800"}) == '{"s":"\ud800"}'
    with pytest.raises(UnicodeEncodeError):
        ids.canonical_json_bytes({"s": "\ud800"})


GOLDEN: list[tuple[str, dict[str, Any], str]] = [
    ("service", {"id": "svc-1"}, "SxrlRxVmnH_nabig"),
    ("endpoint", {"id": 42, "path": "/a"}, "eANFS10McdX88ZhJ"),
    ("service", {}, "HORyA85-Tep7y3ps"),
]


@pytest.mark.parametrize(("type_", "config", "expected"), GOLDEN)
def test_resource_ids_never_change(type_: str, config: dict[str, Any], expected: str) -> None:
    assert ids.resource_id(INSTANCE, type_, config) == expected
    assert ids.resource_id(str(INSTANCE), type_, config) == expected
    assert ids.resource_id(str(INSTANCE).upper(), type_, config) == expected
    assert ids.resource_id(INSTANCE, type_, dict(reversed(config.items()))) == expected
    assert ids.looks_like_resource_id(expected)


def test_resource_ids_depend_on_every_part() -> None:
    base = ids.resource_id(INSTANCE, "service", {"id": "svc-1"})
    others = {
        ids.resource_id(uuid.UUID(int=1), "service", {"id": "svc-1"}),
        ids.resource_id(INSTANCE, "services", {"id": "svc-1"}),
        ids.resource_id(INSTANCE, "service", {"id": "svc-2"}),
        ids.resource_id(INSTANCE, "service\nx", {"id": "svc-1"}),
    }
    assert base not in others and len(others) == 4
    assert ids.id_prefix(INSTANCE, "service") == f"{INSTANCE}\nservice\n".encode()
    assert ids.resource_id_from_bytes(ids.id_prefix(INSTANCE, "service"), b'{"id":"svc-1"}') == base
    with pytest.raises(ValueError):
        ids.id_prefix("not-a-uuid", "service")


def test_resource_ids_are_16_base64url_characters() -> None:
    seen = {ids.resource_id(INSTANCE, "t", {"i": i}) for i in range(300)}
    assert len(seen) == 300
    assert all(len(s) == 16 and ids.looks_like_resource_id(s) for s in seen)
    joined = "".join(seen)
    assert "-" in joined and "_" in joined  # base64url, not base64
    assert "+" not in joined and "/" not in joined and "=" not in joined


def test_content_hashes() -> None:
    assert ids.content_hash("n", {"a": 1}) == "cc97f96251284f2286d3c66738136031"
    assert ids.content_hash(None, None) == "037fa9819ef29d8c9c56a8e8e66cbcdb"
    assert ids.content_hash("n", {"a": 1, "b": None}) != ids.content_hash("n", {"a": 1})
    assert ids.content_hash("n", None) != ids.content_hash(None, None)
    assert ids.content_hash("a", {"b": 1}) == ids.content_hash_from_bytes(b'"a"', b'{"b":1}')
    # the separator keeps name and data apart
    assert ids.content_hash_from_bytes(b"ab", b"c") != ids.content_hash_from_bytes(b"a", b"bc")
    assert len(ids.content_hash("x", {})) == 32


@pytest.mark.parametrize(
    ("text", "has"),
    [
        ('"a\\u0000b"', True),
        ('"\\u0000"', True),
        ('"\\\\u0000"', False),  # an escaped backslash followed by the text u0000
        ('"\\\\\\u0000"', True),  # an escaped backslash, then a NUL
        ('"\\\\\\\\u0000"', False),
        ('"u0000"', False),
        ('"\\u00001"', True),
        ("{}", False),
    ],
)
def test_json_has_nul(text: str, has: bool) -> None:
    assert ids.json_has_nul(text) is has
    scrubbed = ids.scrub_json_nul_bytes(text.encode())
    assert (scrubbed != text.encode()) is has
    assert not ids.json_has_nul(scrubbed.decode())
    assert "\x00" not in json.loads(scrubbed) if text != "{}" else True


def test_scrubbing_nul() -> None:
    assert (
        ids.scrub_json_nul_bytes(b'["a\\u0000", "\\\\u0000", "\\\\\\u0000"]')
        == b'["a\\ufffd", "\\\\u0000", "\\\\\\ufffd"]'
    )
    assert json.loads(ids.scrub_json_nul_bytes(ids.canonical_json_bytes(["x\x00y"]))) == [
        "x\ufffdy"
    ]
    plain = b'{"a":1}'
    assert ids.scrub_json_nul_bytes(plain) is plain
    assert ids.scrub_nul("a\x00b\x00") == "a\ufffdb\ufffd"
    assert ids.scrub_nul("abc") == "abc"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("SxrlRxVmnH_nabig", True),
        ("abcdefghijklmn-_", True),
        ("0123456789ABCDEF", True),
        ("M8AvTbf7FdLWD2M", False),
        ("M8AvTbf7FdLWD2MXY", False),
        ("", False),
        ("M8AvTbf7FdLWD2M=", False),
        ("M8AvTbf7FdLWD2M+", False),
        ("M8AvTbf7FdLWD2M/", False),
        ("M8AvTbf7FdLWD2Mé", False),
        ("M8AvTbf7FdLWD2M٣", False),
        ("M8AvTbf7FdLWD2M ", False),
        ("M8AvTbf7FdLWD2M.", False),
    ],
)
def test_looks_like_resource_id(value: str, ok: bool) -> None:
    assert ids.looks_like_resource_id(value) is ok
