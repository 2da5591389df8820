"""What an image is, as the rest of pycompose sees it: frozen values read from the OCI JSON.

The image configuration is parsed once into typed fields so the runtime never
touches raw JSON; durations become seconds, absent values ``None``. Parsing is
strict (a wrong type is an ArchiveError) because the same code validates
configurations coming out of untrusted archives.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchiveError

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}
HOST_ARCH = _ARCHES.get(os.uname().machine, os.uname().machine)
_NS = 1_000_000_000


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: its media type, digest and size (OCI descriptor)."""

    media_type: str
    digest: str
    size: int

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Descriptor:
        if not isinstance(data, dict):
            raise ArchiveError(f"{where}: a descriptor must be an object")
        digest, size = data.get("digest"), data.get("size")
        media_type = data.get("mediaType", "")
        if not isinstance(digest, str) or not is_sha256(digest):
            raise ArchiveError(f"{where}: unsupported or malformed digest {digest!r} (sha256 only)")
        if not isinstance(size, int) or size < 0 or not isinstance(media_type, str):
            raise ArchiveError(f"{where}: malformed descriptor for {digest}")
        return cls(media_type, digest, size)


def is_sha256(digest: str) -> bool:
    algorithm, _, hexpart = digest.partition(":")
    return algorithm == "sha256" and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


@dataclass(frozen=True)
class HealthConfig:
    """The image's HEALTHCHECK; durations in seconds, None where the image leaves them unset."""

    test: tuple[str, ...]
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    start_interval: float | None = None


@dataclass(frozen=True)
class ImageConfig:
    """The run-time defaults an image carries (the ``config`` object of the image configuration)."""

    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    healthcheck: HealthConfig | None = None
    stop_signal: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> ImageConfig:
        """Parse Docker-style keys (``Env``, ``Cmd``...); ArchiveError on a wrong type."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ArchiveError("image config: 'config' must be an object")
        return cls(
            env=tuple(_strings(data, "Env") or ()),
            entrypoint=_opt_tuple(_strings(data, "Entrypoint")),
            cmd=_opt_tuple(_strings(data, "Cmd")),
            working_dir=_string(data, "WorkingDir"),
            user=_string(data, "User"),
            exposed_ports=tuple(_keys(data, "ExposedPorts")),
            volumes=tuple(_keys(data, "Volumes")),
            healthcheck=_health(data.get("Healthcheck")),
            stop_signal=_string(data, "StopSignal") or None,
            labels=_labels(data.get("Labels")),
        )

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect shape: unset values are null, durations in nanoseconds."""
        out: dict[str, Any] = {
            "Env": list(self.env) or None,
            "Cmd": None if self.cmd is None else list(self.cmd),
            "Entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "WorkingDir": self.working_dir,
            "User": self.user,
            "ExposedPorts": {p: {} for p in self.exposed_ports} or None,
            "Volumes": {v: {} for v in self.volumes} or None,
            "Labels": dict(self.labels) or None,
            "StopSignal": self.stop_signal,
        }
        if self.healthcheck is not None:
            h = self.healthcheck
            out["Healthcheck"] = {
                "Test": list(h.test), "Interval": _ns(h.interval), "Timeout": _ns(h.timeout),
                "StartPeriod": _ns(h.start_period), "StartInterval": _ns(h.start_interval),
                "Retries": h.retries or 0,
            }
        return out


@dataclass(frozen=True)
class Image:
    """One image in the store. ``id`` is the config digest, as Docker's image ID."""

    id: str
    digest: str
    refs: tuple[str, ...]
    created: str
    size: int
    config: ImageConfig
    diff_ids: tuple[str, ...]
    layers: tuple[Descriptor, ...]
    architecture: str = ""
    os: str = ""

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    def inspect(self) -> dict[str, Any]:
        """The object ``docker image inspect`` prints for this image."""
        return {
            "Id": self.id,
            "RepoTags": list(self.refs),
            "RepoDigests": [],
            "Created": self.created,
            "Architecture": self.architecture,
            "Os": self.os,
            "Config": self.config.to_json(),
            "RootFS": {"Type": "layers", "Layers": list(self.diff_ids)},
            "Size": self.size,
            "Descriptor": {"mediaType": MANIFEST_MEDIA_TYPE, "digest": self.digest},
        }


def parse_config(data: Any) -> tuple[ImageConfig, tuple[str, ...]]:
    """Validate an image configuration; its run-time config and its layer diff ids."""
    if not isinstance(data, dict):
        raise ArchiveError("image config: not a JSON object")
    rootfs = data.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) and is_sha256(d) for d in diff_ids):
        raise ArchiveError("image config: rootfs.diff_ids must be a list of sha256 digests")
    return ImageConfig.from_json(data.get("config")), tuple(diff_ids)


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key) or ""
    if not isinstance(value, str):
        raise ArchiveError(f"image config: {key} must be a string")
    return value


def _strings(data: dict[str, Any], key: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchiveError(f"image config: {key} must be a list of strings")
    return value


def _opt_tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _keys(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ArchiveError(f"image config: {key} must be an object")
    return sorted(value)


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ArchiveError("image config: Labels must map strings to strings")
    return dict(value)


def _health(value: Any) -> HealthConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArchiveError("image config: Healthcheck must be an object")
    test = _strings(value, "Test") or []

    def seconds(key: str) -> float | None:
        ns = value.get(key) or 0
        if not isinstance(ns, int) or ns < 0:
            raise ArchiveError(f"image config: Healthcheck.{key} must be a duration in nanoseconds")
        return ns / _NS if ns else None

    retries = value.get("Retries") or None
    if retries is not None and not isinstance(retries, int):
        raise ArchiveError("image config: Healthcheck.Retries must be an integer")
    return HealthConfig(tuple(test), seconds("Interval"), seconds("Timeout"), retries,
                        seconds("StartPeriod"), seconds("StartInterval"))


def _ns(seconds: float | None) -> int:
    return round(seconds * _NS) if seconds else 0
