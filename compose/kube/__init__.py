"""Kubernetes manifests from a validated ``Project``: ``pycompose convert``.

A pure conversion: the model in, plain manifest dicts and located diagnostics out.
The only things read besides the model are the project files that become ConfigMaps
and Secrets, and the variables secrets name, both through ``sources.Sources``.
It imports neither ``compose.deploy`` nor ``engine``; YAML is written by ``render``.
"""

from .convert import Conversion, convert
from .options import ConvertOptions, PublishType

__all__ = ["Conversion", "ConvertOptions", "PublishType", "convert"]
