"""Which stored rows belong to an address or a network, as a queryset the indexes answer.

PostgreSQL keeps addresses as `inet`: `ip_address <<= network` is turned into a range scan of
the (ip_address, timestamp) index. Other databases keep text: an IPv4 network on octet
boundaries is a prefix of the text (also an index range); any other network is its addresses
listed when they are few, or else the enclosing octet-aligned network (the report says so).
"""

import ipaddress

from django.db import connection
from django.db.models import Model, QuerySet

from ..addresses import parse_network
from ..models import RequestRollup, RollupKind

LISTED_ADDRESSES = 1024


def is_network(target: str) -> bool:
    return "/" in target


def filter_target(queryset: QuerySet, target: str, field: str = "ip_address") -> QuerySet:
    """`queryset` narrowed to `target` (an address or network in normal form)."""
    if not is_network(target):
        return queryset.filter(**{field: target})
    network = parse_network(target)
    if connection.vendor == "postgresql":
        table = queryset.model._meta.db_table
        return queryset.extra(where=[f'"{table}"."{field}" <<= %s::inet'], params=[str(network)])
    if network.num_addresses <= LISTED_ADDRESSES:
        return queryset.filter(**{f"{field}__in": [str(a) for a in network]})
    if network.version == 4:
        return queryset.filter(**{f"{field}__startswith": text_prefix(network)})
    return queryset.filter(**{f"{field}__in": known_addresses_in(network)})


def shown_scope(target: str) -> str:
    """What filter_target really covers, when it is wider than the target (text databases)."""
    if not is_network(target) or connection.vendor == "postgresql":
        return target
    network = parse_network(target)
    if network.version == 4 and network.num_addresses > LISTED_ADDRESSES:
        octets = network.prefixlen // 8
        return str(network.supernet(new_prefix=octets * 8))
    return target


def text_prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    octets = network.prefixlen // 8
    parts = str(network.network_address).split(".")[:octets]
    return ".".join(parts) + "." if parts else ""


def known_addresses_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """IPv6 addresses of a wide network on a text database: those the rollups have seen."""
    keys = RequestRollup.objects.filter(kind=RollupKind.IP).values_list("key", flat=True)
    found = []
    for key in keys.distinct().iterator():
        try:
            if ipaddress.ip_address(key) in network:
                found.append(key)
        except ValueError:
            continue
    return found[:LISTED_ADDRESSES]


def covering(target: str) -> list[str]:
    """Every stored form of a network that contains the target, the target itself included:
    33 strings for IPv4, 129 for IPv6, looked up through the unique index."""
    network = parse_network(target)
    forms = [target]
    for prefix in range(network.prefixlen, -1, -1):
        forms.append(str(network.supernet(new_prefix=prefix)))
    if not is_network(target):
        forms.append(str(network.network_address))
    return list(dict.fromkeys(forms))


def rows_covering(model: type[Model], target: str) -> QuerySet:
    return model._default_manager.filter(ip_address__in=covering(target))
