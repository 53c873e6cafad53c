"""Client network addresses as rate limits see them."""

from __future__ import annotations

import ipaddress


def network_of(ip: str) -> str:
    """An IPv4 address itself; an IPv6 address's /64, which one subscriber usually holds whole
    (counting single IPv6 addresses would let a client step around a limit)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
