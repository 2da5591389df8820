"""Helpers for the ``convert`` tests: run a conversion, validate manifests against Kubernetes' schemas."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from compose.config.api import load
from compose.config.options import LoadOptions
from compose.kube import Conversion, ConvertOptions, convert
from compose.kube.sources import Disk

# Kubernetes releases whose OpenAPI schemas every manifest must satisfy (kubernetes-validate ships them):
# the newest it knows and an older one still common in clusters.
VERSIONS = ("1.37", "1.30")
ENVIRON = {"HOME": "/home/tester", "PYCOMPOSE_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}


def validate(obj: dict[str, Any]) -> list[str]:
    """One line per schema violation of ``obj``, for each version (strict: no unknown fields)."""
    import kubernetes_validate

    problems = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            problems.append(f"{version} {obj['kind']}/{obj['metadata']['name']} at {where}: {exc.message}")
    return problems


def run(root: Path, compose: str, files: dict[str, str] | None = None, environ: dict[str, str] | None = None,
        profiles: tuple[str, ...] = (), **options: Any) -> Conversion:
    """Write ``compose`` (and ``files``) under ``root``, load and convert it; every object is validated."""
    (root / "compose.yaml").write_text(textwrap.dedent(compose))
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = {**ENVIRON, **(environ or {})}
    project = load(LoadOptions(cwd=str(root), profiles=profiles), env).project
    result = convert(project, ConvertOptions(**options), Disk(env))
    problems = [p for o in result.objects for p in validate(o)]
    assert not problems, "\n".join(problems)
    return result


def find(result: Conversion, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in result.objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert found, f"no {kind}/{name} among " + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in result.objects)
    return found[0]


def kinds(result: Conversion) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in result.objects]


def said(result: Conversion) -> list[str]:
    """The diagnostics as ``error|warning path: message`` (without the file, which is a temporary one)."""
    from compose.errors import format_path

    return [f"{'error' if d.error else 'warning'} {format_path(d.path)}: {d.message}" for d in result.diagnostics]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]["containers"][0]

