"""Kubernetes names, labels and annotations for the objects of a project."""

from __future__ import annotations

import re

MANAGED_BY = "pycompose"
NAME = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
MANAGED = "app.kubernetes.io/managed-by"
PROJECT_ANNOTATION = "com.docker.compose.project"
SERVICE_ANNOTATION = "com.docker.compose.service"
DEPENDS_ANNOTATION = "com.docker.compose.depends_on"
NETWORK_LABEL = "pycompose/network."  # + network name: "true" on the pods attached to it

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def dns_label(name: str, limit: int = 63) -> str:
    """``My_App.web`` -> ``my-app-web``: lower case, [-a-z0-9], starting with a letter, at most ``limit``."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = f"x-{out}".rstrip("-")
    return out[:limit].rstrip("-")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


def data_key(name: str) -> str:
    """A valid ConfigMap/Secret key for ``name`` (its characters outside [-._a-zA-Z0-9] become _)."""
    key = re.sub(r"[^-._a-zA-Z0-9]", "_", name)
    return key if key not in ("", ".", "..") else "data"


def label_value(value: str) -> str:
    """``value`` if Kubernetes takes it as a label value, else its DNS-label form."""
    if len(value) <= 63 and _LABEL_VALUE.match(value):
        return value
    return dns_label(value)


def selector(project: str, service: str) -> dict[str, str]:
    """The labels that select the pods of one service of the project."""
    return {NAME: label_value(service), PART_OF: label_value(project)}


def labels(project: str, service: str | None = None) -> dict[str, str]:
    out = {PART_OF: label_value(project), MANAGED: MANAGED_BY}
    if service is not None:
        out = {NAME: label_value(service), **out}
    return out


def compose_annotations(project: str, service: str | None = None) -> dict[str, str]:
    out = {PROJECT_ANNOTATION: project}
    if service is not None:
        out[SERVICE_ANNOTATION] = service
    return out


def metadata(name: str, project: str, service: str | None = None, k8s_service: str | None = None,
             namespace: str | None = None) -> dict[str, object]:
    """``service`` is the compose name (annotations), ``k8s_service`` its Kubernetes form (labels)."""
    meta: dict[str, object] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = labels(project, k8s_service)
    meta["annotations"] = compose_annotations(project, service)
    return meta


class Registry:
    """Unique object names per kind: the same owner gets the same name, another one a suffix."""

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], object] = {}
        self._names: dict[tuple[str, object], str] = {}

    def take(self, kind: str, wanted: str, owner: object) -> str:
        if (kind, owner) in self._names:
            return self._names[(kind, owner)]
        name, n = wanted, 2
        while (kind, name) in self._owners:
            suffix = f"-{n}"
            name = wanted[: 63 - len(suffix)] + suffix
            n += 1
        self._owners[(kind, name)] = owner
        self._names[(kind, owner)] = name
        return name

    def owner(self, kind: str, name: str) -> object | None:
        return self._owners.get((kind, name))
