"""Which client a login comes from, for the login throttle.

Streamlit reports the websocket's peer address (None for a loopback connection).
Behind a reverse proxy or an Ingress that peer is the proxy, shared by every user, so
a lock per (account, client) would again lock the account for everybody. When the
peer is one of ``MLTRAINER_TRUSTED_PROXIES`` (comma-separated addresses or networks),
the client is the right-most ``X-Forwarded-For`` address that is not itself a trusted
proxy: the one the outermost trusted proxy saw. Without that setting the header is
ignored, since any browser can send it.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | None) -> tuple[Network, ...]:
    networks = []
    for part in (spec or "").split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _address(text: str | None):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _trusted(text: str | None, networks: tuple[Network, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[Network, ...]
) -> str | None:
    """The login's client address (None: a local connection with no proxy in front)."""
    hop = peer or "127.0.0.1"  # Streamlit reports a loopback peer as None
    if not trusted_proxies or not _trusted(hop, trusted_proxies):
        return peer
    for entry in reversed((forwarded_for or "").split(",")):
        address = _address(entry)
        if address is None:
            break  # a malformed entry: nothing to its left can be trusted
        if not _trusted(entry, trusted_proxies):
            return str(address)
    return peer
