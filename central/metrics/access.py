"""`/metrics` for Prometheus only: an allowed network or a bearer token.

The metrics name symbols, queue lengths and request volumes, which are nobody else's
business. A scraper is let in when

- the connection comes from `METRICS_ALLOWED_NETWORKS` (CIDR list; default loopback
  only). The address is the TCP peer (`REMOTE_ADDR`), never `X-Forwarded-For`, which
  any client can write: behind a proxy or ingress, the peer is the proxy, so do not
  allow the proxy's network (everyone coming through it would be let in); use the
  token instead, or keep the scraper on a network the proxy is not on;
- or it sends `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time; an
  empty METRICS_TOKEN turns tokens off).

Everything else gets 403. The page itself is django-prometheus's export of the default
registry, which holds its request, database and cache metrics and the platform
collector.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def parse_networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    """CIDR strings to networks; a bare address is a network of one. Raises ValueError
    naming the bad entry."""
    parsed = []
    for network in networks:
        try:
            parsed.append(ipaddress.ip_network(network.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"METRICS_ALLOWED_NETWORKS: {network!r} is not an address or CIDR"
            ) from None
    return tuple(parsed)


def address_is_allowed(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket is 127.0.0.1
    networks = parse_networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    return any(ip in network for network in networks)


def token_is_valid(authorization: str) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, token = authorization.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def may_read_metrics(request: HttpRequest) -> bool:
    return address_is_allowed(request.META.get("REMOTE_ADDR")) or token_is_valid(
        request.headers.get("Authorization", "")
    )


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_read_metrics(request):
        logger.info("refused /metrics to %s", request.META.get("REMOTE_ADDR"))
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    return ExportToDjangoView(request)
