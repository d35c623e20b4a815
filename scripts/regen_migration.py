"""Regenerate the newest migration from the models (development helper, before a release).

Usage: python scripts/regen_migration.py 0002 "integrations, resources, sync, events"
Deletes versions/<rev>_*.py, upgrades a scratch SQLite database to the revision
before it, and autogenerates <rev> from the current models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from service_catalog.core.db import Database
from service_catalog.core.migrate import MIGRATIONS, alembic_config

rev, message = sys.argv[1], sys.argv[2]
for old in (MIGRATIONS / "versions").glob(f"{rev}_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
    db = Database(url)
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.revision(cfg, message=message, autogenerate=True, rev_id=rev)
    db.dispose()
