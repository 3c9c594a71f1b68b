"""The URL map: no pattern shadows another, and the hot paths take the cheap way.

jobportal.urls orders its patterns for speed (the API first, the pages' include at "" last).
That is only safe while no path matches two patterns; here every pattern of the map gets a
path built from its own route, which must resolve to that very pattern.
"""

import asyncio
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

# A value for each converter, so a route becomes a path.
SAMPLES = {"int": "7", "str": "x7", "slug": "x-7", "path": "x/7", "uuid": "0" * 32}
GROUP = re.compile(r"\(\?P<\w+>([^()]*)\)")


def sample(pattern):
    """A piece of path that ``pattern`` (a route or a regular expression without nested
    groups) matches whole, or None."""
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"],
                      str(pattern))

    def fill(group):
        return next((value for value in ("7", "x7", "auth") if re.fullmatch(group[1], value)),
                    "\x00")

    regex = str(pattern)
    text = GROUP.sub(fill, regex).removeprefix("^").removesuffix("$").replace("\\.", ".")
    return text if "\x00" not in text and re.match(regex, text) else None


def leaves(resolver, prefix=""):
    """``(path, pattern)`` for every URL pattern of the map with a sample path."""
    for entry in resolver.url_patterns:
        piece = sample(entry.pattern)
        if piece is None:
            continue
        if isinstance(entry, URLResolver):
            yield from leaves(entry, prefix + piece)
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + piece, entry


ROUTES = list(leaves(get_resolver()))


def test_the_map_has_paths_of_every_surface():
    paths = {path for path, _ in ROUTES}
    for expected in ("/api/v1/commands/7/", "/api/v1.2/commands/7", "/api/jobs/x7",
                     "/query/status", "/v1/jobs/x7", "/commands/7/", "/accounts/login/",
                     "/admin/jobs/command/", "/healthz"):
        assert expected in paths, expected


@pytest.mark.parametrize(("path", "pattern"), ROUTES, ids=[path for path, _ in ROUTES])
def test_every_pattern_is_reached_by_its_own_path(path, pattern):
    match = get_resolver().resolve(path)
    assert match.func == pattern.callback, f"{path} is taken by {match.route}"


def test_the_middleware_chain_runs_synchronously_in_one_hop():
    from jobportal.asgi import application

    assert not asyncio.iscoroutinefunction(application._middleware_chain)


@pytest.mark.parametrize(("path", "headers", "skips"), [
    ("/api/v1/commands/", {"HTTP_AUTHORIZATION": "Bearer jp_x"}, True),
    ("/api/v1.2/commands", {"HTTP_X_AUTH_TOKEN": "jp_x"}, True),
    ("/v1/jobs/job_1", {"HTTP_X_API_KEY": "jp_x"}, True),
    ("/query/status?api_key=jp_x", {}, True),
    ("/api/v1/commands/", {}, False),  # a browser's session: the middleware is needed
    ("/commands/", {"HTTP_AUTHORIZATION": "Bearer jp_x"}, False),  # a page, whatever it sends
    ("/admin/", {"HTTP_AUTHORIZATION": "Bearer jp_x"}, False),
])
def test_only_token_api_requests_skip_the_browser_middleware(rf, path, headers, skips):
    from django.http import HttpResponse

    from jobportal.browser_middleware import MessageMiddleware
    from jobportal.middleware import token_api_request

    request = rf.get(path, **headers)
    request.session = {}  # what SessionMiddleware, earlier in the chain, gives every request
    assert token_api_request(request) is skips
    MessageMiddleware(lambda r: HttpResponse())(request)
    assert hasattr(request, "_messages") is not skips
