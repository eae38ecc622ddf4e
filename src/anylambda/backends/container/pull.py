"""Pulling a function's missing image: which references a registry could serve, and for how long.

A container backend pulls an image that is not on its engine when a function needs it
(CreateFunction, UpdateFunctionConfiguration), if the reference names one a registry
could have: not an image id, not one of Podman's ``localhost/`` names for local builds.
The request waits :data:`PULL_WAIT` seconds for the pull; a pull that takes longer leaves
the function ``Pending`` until it ends (see :class:`~anylambda.core.interfaces.Preparation`).
"""

from __future__ import annotations

import re

#: Seconds CreateFunction waits for a pull before it answers with the function ``Pending``.
PULL_WAIT = 5.0
#: Seconds a pull may take in all; then the function is ``Failed``.
PULL_TIMEOUT = 900.0
#: AWS's ``StateReasonCode`` of a function whose image could not be pulled.
PULL_FAILED = "ImageAccessDenied"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
#: A registry: a first component with a dot or a port, or ``localhost``.
_REGISTRY = r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+:[0-9]+|localhost)(?::[0-9]+)?"
#: The Docker reference grammar: ``[registry/]path[:tag][@digest]``.
_REFERENCE = re.compile(
    rf"(?:(?P<registry>{_REGISTRY})/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
#: What engines take for an image id rather than a name.
_IMAGE_ID = re.compile(r"(?:sha256:)?[0-9a-f]{64}")


def pullable(image: str) -> bool:
    """Whether a registry could serve ``image``: a well-formed name, not an id or a local name
    (Podman calls the images built on this host ``localhost/NAME``)."""
    match = _REFERENCE.fullmatch(image)
    if match is None or _IMAGE_ID.fullmatch(image):
        return False
    return match.group("registry") != "localhost"
