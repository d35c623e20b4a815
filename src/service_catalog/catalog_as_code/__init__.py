"""Catalog as code: declarative catalog files (plan, apply, prune, export) and the
Backstage import that turns ``catalog-info.yaml`` entities into the same documents."""
