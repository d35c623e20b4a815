"""The copy of Kong's spec shipped under tests/contracts is the team's shared one."""

from __future__ import annotations

import pytest

from contract import SHARED_SPEC, VENDORED_SPEC


def test_vendored_spec_matches_the_shared_one() -> None:
    assert VENDORED_SPEC.exists(), "tests/contracts must ship Kong's spec for fresh clones"
    if not SHARED_SPEC.exists():
        pytest.skip("no ../shared/contracts beside this clone: nothing to compare with")
    assert VENDORED_SPEC.read_bytes() == SHARED_SPEC.read_bytes(), (
        "tests/contracts/ is out of date: copy ../shared/contracts/" + SHARED_SPEC.name
    )
