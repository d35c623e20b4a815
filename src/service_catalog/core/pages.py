"""The ``meta`` of number-paged lists and the body of facet counts, shared by every
domain's list schemas."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

ItemT = TypeVar("ItemT")


class PageMeta(BaseModel):
    """``meta.page`` of a number-paged list."""

    number: int
    size: int
    total: int


class PaginatedMeta(BaseModel):
    """``meta`` of a number-paged list."""

    page: PageMeta


class NumberedList(BaseModel, Generic[ItemT]):
    """A number-paged list of ``ItemT`` (each list's schema subclasses it under its own
    name)."""

    data: list[ItemT]
    meta: PaginatedMeta


class FacetValue(BaseModel):
    """One value of a facet and how many of the matching items hold it."""

    value: str | bool | None
    count: int


class FacetMeta(BaseModel):
    """``meta`` of facet counts: the field counted, the limit, and whether more values
    exist than were returned."""

    field: str
    limit: int
    truncated: bool


class FacetList(BaseModel):
    """Facet counts: each value of one field among a list's matching items (an extension:
    Konnect has no facets)."""

    data: list[FacetValue]
    meta: FacetMeta
