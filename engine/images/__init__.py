"""The local image store: OCI layout, unpacked shared layers, docker-compatible archives.

``ImageStore`` is the entry point; ``Image`` and ``ImageConfig`` are what it
returns. Importing this package loads tarfile and zstandard, so command-line
code imports it inside the commands that need it.
"""

from __future__ import annotations

from .model import Descriptor, HealthConfig, Image, ImageConfig
from .store import ImageStore

__all__ = ["Descriptor", "HealthConfig", "Image", "ImageConfig", "ImageStore"]
