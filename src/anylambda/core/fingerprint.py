"""Deployment fingerprints: what makes two instances interchangeable."""

from __future__ import annotations

import hashlib
import json

import attrs

from anylambda.core.models import FunctionConfig


def fingerprint(function: FunctionConfig) -> str:
    """SHA-256 over everything an instance bakes in when it starts.

    That is the code's SHA-256, each layer's SHA-256 in attach order, and the
    configuration exported to or enforced on the instance (runtime, handler,
    environment, memory, architecture, storage, image, and the name and
    version it reports). The timeout is not part of it: the deadline travels
    with each invocation, so a new timeout keeps warm instances.
    """
    settings = function.settings
    material = [
        function.name,
        function.version,
        function.code.sha256,
        [layer.code.sha256 for layer in function.layers],
        settings.runtime,
        settings.handler,
        sorted(settings.environment.items()),
        settings.memory_size,
        list(settings.architectures),
        settings.ephemeral_storage,
        settings.package_type,
        settings.image_uri,
        attrs.astuple(settings.image_config),
    ]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()
