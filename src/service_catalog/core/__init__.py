"""Shared machinery: storage, errors, paging, filtering, ids, auth and secrets."""
