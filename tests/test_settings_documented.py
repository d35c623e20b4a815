"""Every setting is documented in the README (a new setting without a line there fails)."""

from __future__ import annotations

import re
from pathlib import Path

from service_catalog.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _configuration_section() -> str:
    text = README.read_text()
    match = re.search(r"^## Configuration\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Configuration' section"
    return match.group(1)


def test_every_setting_is_in_the_readme_configuration_section() -> None:
    section = _configuration_section()
    documented = set(re.findall(r"`(SERVICE_CATALOG_[A-Z0-9_]+)`", section))
    missing = [
        f"SERVICE_CATALOG_{name.upper()}"
        for name in Settings.model_fields
        if f"SERVICE_CATALOG_{name.upper()}" not in documented
    ]
    assert not missing, f"settings missing from README.md's Configuration section: {missing}"


def test_readme_documents_no_setting_that_does_not_exist() -> None:
    section = _configuration_section()
    known = {f"SERVICE_CATALOG_{name.upper()}" for name in Settings.model_fields}
    table_rows = re.findall(r"^\|\s*`(SERVICE_CATALOG_[A-Z0-9_]+)`", section, re.MULTILINE)
    assert table_rows, "the Configuration section has no settings table"
    unknown = [
        row for row in table_rows if row not in known and row != "SERVICE_CATALOG_TEST_DATABASE_URL"
    ]
    assert not unknown, f"README documents settings that do not exist: {unknown}"


def test_each_setting_has_a_description() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description"
