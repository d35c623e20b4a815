"""The four simulated tenants of ``service-catalog demo``, whose names line up: each demo
service name (``checkout``, ``payments``, ``identity``) is a Traceable service, a Kong
gateway service, a GitHub repository ``acme/<name>`` and a PagerDuty service.

A module of its own so that the CLI, which imports :mod:`.demo` to register the command,
does not load four simulators (and GitHub's JWT and RSA libraries) for every command.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass

from service_catalog.testing.demo import DEMO_SERVICES, GITHUB_OWNER
from service_catalog.testing.gateway_manager_sim import GatewaySimulator
from service_catalog.testing.github_sim import GitHubSimulator
from service_catalog.testing.pagerduty_sim import PagerDutySimulator
from service_catalog.testing.traceable_sim import TraceableSimulator
from service_catalog.testing.traceable_tenant import Tenant

#: Names of the second Traceable service of a demo service.
TRACEABLE_NAMES = {"svc-00002": "checkout-worker", "svc-00005": "identity-admin"}
#: Repositories of the simulated GitHub organization no demo service claims.
OTHER_REPOS = ("web-frontend", "infra-terraform", "docs")
#: The demo's small tenants (its start stays a few seconds).
GATEWAY_SERVICES, PAGERDUTY_SERVICES, PAGERDUTY_INCIDENTS, PRS_PER_REPO = 6, 6, 6, 8


@dataclass
class Tenants:
    """The four simulators of a demo, their credentials, and what the demo maps."""

    traceable: TraceableSimulator
    gateway: GatewaySimulator
    github: GitHubSimulator
    pagerduty: PagerDutySimulator
    token: str

    @property
    def traceable_tenant(self) -> Tenant:
        """The Traceable simulator's tenant."""
        return self.traceable.tenant

    def gateway_service_id(self, name: str) -> str:
        """The Kong id of the gateway service ``name``."""
        return str(next(s["id"] for s in self.gateway.services() if s["name"] == name))

    def pagerduty_service_id(self, name: str) -> str:
        """The PagerDuty id of the service ``name``."""
        i = next(i for i, n in self.pagerduty.names.items() if n == name)
        return self.pagerduty.service_id(i)

    def stop(self) -> None:
        """Stop every simulator that runs."""
        for sim in (self.traceable, self.gateway, self.github, self.pagerduty):
            with contextlib.suppress(Exception):  # stopping the others matters more
                sim.stop()


def start_tenants(services: int, endpoints: int) -> Tenants:
    """The four simulators, started on loopback with tenants whose names line up: each
    demo service name is a Traceable service, a gateway service, a repository and a
    PagerDuty service (Traceable's tenant of ``services`` x ``endpoints``; the others
    small)."""
    token = f"demo-{secrets.token_urlsafe(16)}"
    names = [name for name, _, _ in DEMO_SERVICES]
    traceable = TraceableSimulator(services, endpoints, token, inactive_every=6, vulnerable_every=3)
    for name, _, ids in DEMO_SERVICES:
        traceable.tenant.rename_service(ids[0], name)
    for sid, name in TRACEABLE_NAMES.items():
        traceable.tenant.rename_service(sid, name)
    gateway = GatewaySimulator(GATEWAY_SERVICES, 2, 2, admin_token=token)
    for svc, name in zip(gateway.services(), names, strict=False):
        svc.update(name=name, host=f"{name}.internal", path=f"/{name}")
    gateway.changed()
    github = GitHubSimulator(0, 0, token, owner=GITHUB_OWNER, app=False)
    for seed, name in enumerate([*names, *OTHER_REPOS], start=1):
        github.add_repo(name, prs=PRS_PER_REPO, seed=seed)
    pagerduty = PagerDutySimulator(PAGERDUTY_SERVICES, PAGERDUTY_INCIDENTS, token)
    for i, name in enumerate(names, start=1):
        pagerduty.names[i] = name
    tenants = Tenants(traceable, gateway, github, pagerduty, token)
    try:
        for sim in (traceable, gateway, github, pagerduty):
            sim.start()
    except Exception:
        tenants.stop()
        raise
    return tenants
