"""The ``meta`` of number-paged lists, shared by every domain's list schemas."""

from __future__ import annotations

from pydantic import BaseModel


class PageMeta(BaseModel):
    """``meta.page`` of a number-paged list."""

    number: int
    size: int
    total: int


class PaginatedMeta(BaseModel):
    """``meta`` of a number-paged list."""

    page: PageMeta
