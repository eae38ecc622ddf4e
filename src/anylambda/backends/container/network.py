"""Which address of the host a container reaches, and whether the server can listen there."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

from anylambda.core.errors import ConfigurationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def gateway_of(network: Mapping[str, Any]) -> str | None:
    """The host's address on a network, IPv4 first, from its inspect document.

    Reads Docker's format (``IPAM.Config``, also what Podman's compatible API
    returns) and Podman's own (``subnets``). Older Docker engines leave
    ``Gateway`` out of the default bridge's IPAM config; the bridge then takes
    the subnet's first address, which is what is returned.
    """
    configs = (network.get("IPAM") or {}).get("Config") or []
    subnets = [(c.get("Gateway"), c.get("Subnet")) for c in configs]
    subnets += [(s.get("gateway"), s.get("subnet")) for s in network.get("subnets") or []]
    candidates: list[Address] = []
    for gateway, subnet in subnets:
        if gateway:
            with contextlib.suppress(ValueError):  # Podman says "<nil>" for none at all
                candidates.append(ipaddress.ip_address(gateway.split("/")[0]))
        elif subnet:
            candidates.append(ipaddress.ip_network(subnet, strict=False)[1])
    candidates.sort(key=lambda address: address.version)
    return str(candidates[0]) if candidates else None


def check_bindable(address: str, backend: str) -> None:
    """The core binds each Runtime API on ``address``: it must be an address of this host."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot listen on {address}, the container network's gateway: {exc.strerror}. "
            f"The {backend} backend needs the engine on this host."
        ) from exc
