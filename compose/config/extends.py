"""``extends``: a service built on another service, in the same file or another one.

The base service (itself possibly extending another) is loaded from its own
file, with relative paths resolved against that file's folder, and the
extending service is merged on top of it with the usual merge rules.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError
from .merge import merge_values

if TYPE_CHECKING:
    from .yamlload import Document


class Loader(Protocol):
    """What extends needs of the loader: other files, loaded as the loader loads them, and their names."""

    def load_file(self, path: str, base: str, stack: tuple[str, ...] = ()) -> list[Document]: ...
    def show(self, path: str) -> str: ...


def _target(svc: dict[str, Any], current_file: str) -> tuple[str, str]:
    ext = svc["extends"]
    if isinstance(ext, str):
        return current_file, ext
    return ext.get("file") or current_file, str(ext["service"])


def apply_extends(doc: dict[str, Any], shown: str, path: str, loader: Loader,
                  stack: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with each service's ``extends`` replaced by the merged base service."""
    services = doc.get("services")
    if not isinstance(services, dict) or not any(
        isinstance(s, dict) and "extends" in s for s in services.values()
    ):
        return doc
    resolver = _Resolver(loader, path, doc, stack)
    out = dict(doc)
    out["services"] = {
        name: resolver.resolve(path, name, (), shown) if isinstance(svc, dict) and "extends" in svc else svc
        for name, svc in services.items()
    }
    return out


class _Resolver:
    def __init__(self, loader: Loader, path: str, doc: dict[str, Any], stack: tuple[str, ...]) -> None:
        self.loader = loader
        self.stack = stack
        self.docs: dict[str, dict[str, Any]] = {path: doc}
        self.shown: dict[str, str] = {}

    def services_of(self, file: str) -> dict[str, Any]:
        if file not in self.docs:
            base = os.path.dirname(file)
            merged: dict[str, Any] = {}
            for d in self.loader.load_file(file, base, self.stack):
                merged = merge_values(merged, d.data)
            self.docs[file] = merged
        return self.docs[file].get("services") or {}

    def resolve(self, file: str, name: str, chain: tuple[tuple[str, str], ...], shown: str) -> dict[str, Any]:
        services = self.services_of(file)
        if name not in services:
            where = chain[-1] if chain else (file, name)
            raise ConfigError(
                f'cannot extend service "{name}" in {self.loader.show(file)}: service not found',
                file=self.loader.show(where[0]), path=("services", where[1], "extends"),
            )
        if (file, name) in chain:
            cycle = " -> ".join(n for _, n in chain[chain.index((file, name)):]) + f" -> {name}"
            raise ConfigError(f"circular reference with extends: {cycle}",
                              file=self.loader.show(chain[0][0]), path=("services", chain[0][1], "extends"))
        svc = services[name]
        if not isinstance(svc, dict) or "extends" not in svc:
            return svc if isinstance(svc, dict) else {}
        base_file, base_name = _target(svc, file)
        base = self.resolve(base_file, base_name, chain + ((file, name),), shown)
        own = {k: v for k, v in svc.items() if k != "extends"}
        merged = merge_values(base, own, ("services", name))
        assert isinstance(merged, dict)
        return merged
