"""Every domain's models in one import, so that ``Base.metadata`` knows all tables."""

from __future__ import annotations

from service_catalog.apis import models as apis_models
from service_catalog.auth import models as auth_models
from service_catalog.auth import sessions as auth_sessions
from service_catalog.catalog_as_code import models as catalog_as_code_models
from service_catalog.catalog_services import models as catalog_services_models
from service_catalog.core.db import Base
from service_catalog.dependencies import models as dependencies_models
from service_catalog.events import models as events_models
from service_catalog.identity_providers import models as identity_providers_models
from service_catalog.integrations import models as integrations_models
from service_catalog.resources import models as resources_models
from service_catalog.scorecards import models as scorecards_models
from service_catalog.sync import models as sync_models

#: The modules imported for their tables (named so that the imports are used).
MODEL_MODULES = (
    apis_models,
    auth_models,
    auth_sessions,
    catalog_as_code_models,
    catalog_services_models,
    dependencies_models,
    events_models,
    identity_providers_models,
    integrations_models,
    resources_models,
    scorecards_models,
    sync_models,
)


def load_all() -> type[Base]:
    """The declarative base, with every domain's tables registered on its metadata."""
    return Base
