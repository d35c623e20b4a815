"""Request and response shapes of scorecards, criteria templates and scorecard templates
(the contract's), and of service documents and levels (our extensions)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service_catalog.core.pages import NumberedList

TemplateName = Literal[
    "kong_best_practices", "service_documentation", "service_maturity", "security_and_compliance"
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
Section = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- entity selectors ------------------------------------------------------------------


class StringSelectorParams(_Strict):
    """``operator`` ``eq`` or ``contains`` a ``value``."""

    operator: Literal["eq", "contains"]
    value: str


class IdsParams(_Strict):
    """The services' ids."""

    ids: list[uuid.UUID]


class CustomFieldParams(_Strict):
    """A custom field compared with a value: strings ``eq``/``contains``, numbers
    ``eq``/``lt``/``gt``, booleans ``eq``; a URL field's ``subfield`` (``name``/``link``)."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    value: str | float | bool
    operator: Literal["eq", "contains", "lt", "gt"]
    subfield: Literal["name", "link"] | None = None

    @model_validator(mode="after")
    def _operator_fits(self) -> CustomFieldParams:
        if isinstance(self.value, bool):
            allowed: tuple[str, ...] = ("eq",)
        elif isinstance(self.value, str):
            allowed = ("eq", "contains")
        else:
            allowed = ("eq", "lt", "gt")
        if self.operator not in allowed:
            raise ValueError(
                f"operator {self.operator} does not apply to a {type(self.value).__name__} "
                f"value; use one of {', '.join(allowed)}"
            )
        return self


class LabelParams(_Strict):
    """A label's value compared with ``value``."""

    operator: Literal["eq", "contains"]
    value: str
    label_key: Annotated[str, StringConstraints(min_length=1, max_length=63)]


class LabelKeyParams(_Strict):
    """A label key the service must have."""

    label_key: Annotated[str, StringConstraints(min_length=1, max_length=63)]


class CountParams(_Strict):
    """A count compared with ``value``."""

    operator: Literal["eq", "gte", "lte"]
    value: Annotated[float, Field(ge=0)]


class ResourceCountParams(CountParams):
    """A count of mapped resources of one type of one integration."""

    resource_type: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    integration: Annotated[str, StringConstraints(min_length=1, max_length=120)]


class AllSelector(_Strict):
    """Every service."""

    selector: Literal["all"]
    selector_parameters: None = None


class IdsSelector(_Strict):
    """The services with these ids."""

    selector: Literal["ids"]
    selector_parameters: IdsParams


class NameSelector(_Strict):
    """Services by name."""

    selector: Literal["name"]
    selector_parameters: StringSelectorParams


class DisplayNameSelector(_Strict):
    """Services by display name."""

    selector: Literal["display_name"]
    selector_parameters: StringSelectorParams


class CustomFieldSelector(_Strict):
    """Services by a custom field."""

    selector: Literal["custom_field"]
    selector_parameters: CustomFieldParams


class LabelSelector(_Strict):
    """Services by a label's value."""

    selector: Literal["label"]
    selector_parameters: LabelParams


class HasLabelKeySelector(_Strict):
    """Services carrying a label key."""

    selector: Literal["has_label_key"]
    selector_parameters: LabelKeyParams


class HasDocsSelector(_Strict):
    """Services with at least one document."""

    selector: Literal["has_docs"]
    selector_parameters: None = None


class ApiCountSelector(_Strict):
    """Services by their number of APIs (none has any: APIs are not in this catalog)."""

    selector: Literal["api_count"]
    selector_parameters: CountParams


class ResourceCountSelector(_Strict):
    """Services by their number of mapped resources of a type."""

    selector: Literal["resource_count"]
    selector_parameters: ResourceCountParams


EntitySelector = Annotated[
    AllSelector
    | IdsSelector
    | NameSelector
    | DisplayNameSelector
    | CustomFieldSelector
    | LabelSelector
    | HasLabelKeySelector
    | HasDocsSelector
    | ApiCountSelector
    | ResourceCountSelector,
    Field(discriminator="selector"),
]


# --- scorecards ------------------------------------------------------------------------


class CriterionIn(_Strict):
    """A criterion in a scorecard's body; with ``id`` (on PUT), the criterion it updates."""

    id: uuid.UUID | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    enabled: bool
    template_name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    template_parameters: dict[str, Any] | None = None
    section_name: Section | None = None


class LevelIn(_Strict):
    """A level (our extension): reached when every enabled criterion of its ``sections``
    passes, and every lower level is reached."""

    name: Section
    sections: Annotated[list[Section], Field(min_length=1)]


class ScorecardIn(_Strict):
    """Body of ``POST /v1/scorecards`` and ``PUT /v1/scorecards/{id}``; ``levels``,
    lowest first, is our extension (Konnect clients never send it)."""

    name: Title
    description: Annotated[str, StringConstraints(max_length=2048)] | None = None
    entity_selector: EntitySelector | None = None
    criteria: Annotated[list[CriterionIn], Field(min_length=1, max_length=100)]
    scorecard_template: TemplateName | None = None
    levels: Annotated[list[LevelIn], Field(max_length=20)] | None = None


class Score(BaseModel):
    """A score: ``{value: "67%", raw_value: 66.667}``."""

    value: str
    raw_value: float


class CriterionRead(BaseModel):
    """A scorecard's criterion."""

    id: uuid.UUID
    name: str | None
    scorecard_id: uuid.UUID
    integration: str | None
    enabled: bool
    template_name: str
    template_parameters: dict[str, Any] | None
    section_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CriterionWithCount(CriterionRead):
    """A criterion with how many targeted services pass it."""

    evaluation: dict[str, Any] | None


class CriterionWithEvaluation(CriterionRead):
    """A criterion with one service's evaluation."""

    evaluation: dict[str, Any] | None


class ScorecardRead(BaseModel):
    """A scorecard (``levels``: our extension)."""

    id: uuid.UUID
    name: str
    description: str | None
    score: Score | None
    entity_selector: dict[str, Any] | None
    scorecard_template: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    levels: list[dict[str, Any]] | None = None


class ScorecardWithCriteria(ScorecardRead):
    """A scorecard with its criteria."""

    criteria: list[CriterionRead]


class ServiceScorecard(ScorecardRead):
    """A scorecard as one service fares under it; ``level`` is our extension."""

    criteria: list[CriterionWithEvaluation]
    level: dict[str, Any] | None = None


class _TargetedService(BaseModel):
    """A catalog service a scorecard targets, as its lists show it."""

    id: uuid.UUID
    name: str
    display_name: str
    description: str | None
    custom_fields: dict[str, Any]
    labels: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime


class ScorecardServiceRead(_TargetedService):
    """A targeted service with its score (and ``level``, our extension)."""

    score: Score | None
    level: str | None = None


class CriterionServiceRead(_TargetedService):
    """A targeted service with its evaluation of one criterion."""

    evaluation: dict[str, Any] | None


class ScorecardList(NumberedList[ScorecardRead]):
    """A page of scorecards."""


class CriteriaPage(NumberedList[CriterionWithCount]):
    """A page of a scorecard's criteria."""


class ScorecardServicePage(NumberedList[ScorecardServiceRead]):
    """A page of a scorecard's services."""


class CriterionServicePage(NumberedList[CriterionServiceRead]):
    """A page of a criterion's services."""


class CriteriaTemplateRead(BaseModel):
    """A criteria template."""

    name: str
    display_name: str
    category: str | None
    template_string: str | None
    integration_name: str | None
    installed: bool
    schema_: dict[str, Any] | None = Field(alias="schema")
    required_integration_capability: str | None


class CriteriaTemplatePage(NumberedList[CriteriaTemplateRead]):
    """A page of criteria templates."""


class ScorecardTemplateRead(BaseModel):
    """A scorecard template."""

    name: str
    display_name: str
    description: str
    criteria: list[dict[str, Any]]


class ScorecardTemplatePage(NumberedList[ScorecardTemplateRead]):
    """A page of scorecard templates."""
