"""A minimal API registry (``/v3/apis``, as Konnect's API Builder shapes it) and the
mappings between catalog services and APIs (Konnect's five API-mapping operations)."""
