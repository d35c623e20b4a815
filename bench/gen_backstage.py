"""A generated Backstage catalog shaped like a real one: ``catalog-info.yaml`` (a Location
whose targets are the other files), 200 Groups, 500 Systems in 20 Domains, and N
Components (default 10,000) in files of 500, each with a title, a description, 2 labels,
2 annotations, type, lifecycle, owner, system and 2 ``dependsOn``.

Run: ``python -m bench.gen_backstage OUT_DIR [--components N]``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import yaml

GROUPS = 200
SYSTEMS = 500
DOMAINS = 20
PER_FILE = 500

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _entity(kind: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


def _write(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, explicit_start=True))


def generate(out: Path, components: int, seed: int = 16) -> list[Path]:
    """Write the catalog under ``out``; the files written (the Location first)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    groups = [
        _entity(
            "Group",
            f"team-{g:03d}",
            {"type": "team", "profile": {"displayName": f"Team {g}"}, "children": []},
            description=f"Team number {g}",
        )
        for g in range(GROUPS)
    ]
    _write(out / "groups.yaml", groups)
    domains = [_entity("Domain", f"domain-{d:02d}", {"owner": "team-000"}) for d in range(DOMAINS)]
    systems = [
        _entity(
            "System",
            f"system-{s:03d}",
            {"owner": f"group:team-{s % GROUPS:03d}", "domain": f"domain-{s % DOMAINS:02d}"},
        )
        for s in range(SYSTEMS)
    ]
    _write(out / "systems.yaml", domains + systems)
    files += [out / "groups.yaml", out / "systems.yaml"]
    for start in range(0, components, PER_FILE):
        docs = []
        for c in range(start, min(start + PER_FILE, components)):
            deps = rng.sample(range(components), 2) if components > 2 else []
            docs.append(
                _entity(
                    "Component",
                    f"comp-{c:06d}",
                    {
                        "type": "service",
                        "lifecycle": rng.choice(["production", "experimental"]),
                        "owner": f"team-{c % GROUPS:03d}",
                        "system": f"system-{c % SYSTEMS:03d}",
                        "dependsOn": [f"component:comp-{d:06d}" for d in deps if d != c],
                    },
                    title=f"Component {c}",
                    description=f"The component number {c}, generated for the benchmark.",
                    labels={"tier": str(c % 4), "region": rng.choice(["eu", "us", "ap"])},
                    annotations={
                        "github.com/project-slug": f"acme/comp-{c:06d}",
                        "backstage.io/techdocs-ref": "dir:.",
                    },
                )
            )
        path = out / f"components-{start // PER_FILE:04d}.yaml"
        _write(path, docs)
        files.append(path)
    location = _entity(
        "Location",
        "generated",
        {"type": "file", "targets": [f"./{p.name}" for p in files]},
    )
    _write(out / "catalog-info.yaml", [location])
    return [out / "catalog-info.yaml", *files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--components", type=int, default=10_000)
    args = parser.parse_args()
    files = generate(args.out, args.components)
    print(f"wrote {len(files)} files under {args.out}")


if __name__ == "__main__":
    main()
