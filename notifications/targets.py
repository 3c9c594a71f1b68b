"""Where webhooks may go: the rules against server-side request forgery (SSRF), checked when
an endpoint is saved and again, on the resolved addresses, each time a delivery is sent.

A webhook URL is the tenant's choice and the portal's workers make the request, from inside
the operator's network. By default a URL may not reach loopback, private (RFC 1918, unique
local), link-local (the cloud metadata service at 169.254.169.254), reserved, multicast or
unspecified addresses, nor the portal itself. Operators open what they need:
``WEBHOOK_ALLOWED_NETWORKS`` (hosts or networks, e.g. ``10.1.0.0/16``, ``hooks.internal``),
``WEBHOOK_ALLOW_PRIVATE`` (any non-public address), ``WEBHOOK_HOSTS`` (only these host
names). Saving does no DNS lookup (a request must not wait on a stranger's name server); the
sender resolves the name, checks every address and connects to the one it checked, so a name
that later resolves to an internal address (DNS rebinding) is refused at send time.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeTarget(Exception):
    """The URL may not be requested (the message says why, for the delivery log)."""


def _config():
    return settings.NOTIFICATIONS


def _allowed_networks():
    networks, hosts = [], set()
    for entry in _config()["WEBHOOK_ALLOWED_NETWORKS"]:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts


def _literal_ip(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_problem(address, host):
    """Why ``address`` (an IP the URL's ``host`` names) may not be reached, or None."""
    networks, hosts = _allowed_networks()
    if host in hosts or any(address in network for network in networks):
        return None
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not an address to send to."
    if address.is_global:
        return None
    if _config()["WEBHOOK_ALLOW_PRIVATE"]:
        return None
    return (f"{address} is a loopback, private, link-local or reserved address; the operator "
            "allows such addresses with JOBPORTAL_WEBHOOK_ALLOWED_NETWORKS.")


def _host_listed(host):
    listed = _config()["WEBHOOK_HOSTS"]
    if not listed:
        return True
    for entry in (entry.lower() for entry in listed):
        if host == entry or (entry.startswith(".") and (host.endswith(entry)
                                                       or host == entry[1:])):
            return True
    return False


def _portal_address():
    public = _config()["PUBLIC_URL"]
    if not public:
        return None
    parts = urlsplit(public)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def url_problem(url):
    """Why ``url`` may not be a webhook endpoint, or None (no DNS lookup: see the module)."""
    if not (url.isascii() and url.isprintable()) or " " in url:
        return ("Only printable ASCII, without spaces: percent-encode other characters (and "
                "write an international host name in its xn-- form).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Only http and https URLs."
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "The URL needs a host."
    if parts.username is not None or parts.password is not None:
        return "No credentials in the URL: verify the signature instead (docs/notifications.md)."
    port = port or (443 if parts.scheme == "https" else 80)
    if (host, port) == _portal_address():
        return "The portal does not send webhooks to itself."
    if not _host_listed(host):
        return "This host is not among the operator's JOBPORTAL_WEBHOOK_HOSTS."
    address = _literal_ip(host)
    if address is None and (host == "localhost" or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")
    if address is not None:
        return address_problem(address, host)
    return None


def resolve(url):
    """``(scheme, host, port, path, address)`` of ``url`` with an address it may reach; raise
    :class:`UnsafeTarget` if the URL is refused or any address it resolves to is."""
    problem = url_problem(url)
    if problem:
        raise UnsafeTarget(problem)
    parts = urlsplit(url)
    host = parts.hostname.lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"Cannot resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        problem = address_problem(address, host)
        if problem:
            raise UnsafeTarget(problem)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port, path, str(addresses[0])
