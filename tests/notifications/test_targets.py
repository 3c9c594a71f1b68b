"""Where webhooks may go (SSRF rules): checked when saved, and on the resolved address when
sent."""

import pytest

from notifications import targets, webhooks


@pytest.fixture
def defaults(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBHOOK_ALLOWED_NETWORKS": [],
                              "WEBHOOK_ALLOW_PRIVATE": False, "WEBHOOK_HOSTS": [],
                              "PUBLIC_URL": "https://jobs.example.com"}
    return settings


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8000/", "http://api.localhost/",
    "http://10.1.2.3/", "http://192.168.0.10/", "http://[::1]/", "http://[fd00::1]/",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "http://224.0.0.1/",
])
def test_non_public_addresses_are_refused_by_default(defaults, url):
    assert targets.url_problem(url)


@pytest.mark.parametrize("url, problem", [
    ("ftp://hooks.example.org/", "Only http and https"),
    ("https://user:pw@hooks.example.org/", "No credentials"),
    ("https:///nohost", "needs a host"),
    ("https://jobs.example.com/api/v1/commands/", "to itself"),
    ("http://[::1/", "Not a valid URL"),
    ("https://hooks.example.org/a b", "printable ASCII"),
    ("https://hooks.example.org/caf\u00e9", "printable ASCII"),
    ("https://hooks.example.org/\r\nX-Injected: 1", "printable ASCII"),
])
def test_what_is_no_webhook_url(defaults, url, problem):
    assert problem in targets.url_problem(url)


def test_public_hosts_pass_without_a_lookup(defaults):
    assert targets.url_problem("https://hooks.example.org/jobportal?x=1") is None
    assert targets.url_problem("https://93.184.215.14/") is None


def test_the_operator_opens_networks_hosts_or_everything_private(defaults):
    assert targets.url_problem("http://10.1.2.3/")
    defaults.NOTIFICATIONS = {**defaults.NOTIFICATIONS,
                              "WEBHOOK_ALLOWED_NETWORKS": ["10.1.0.0/16", "hooks.internal"]}
    assert targets.url_problem("http://10.1.2.3/") is None
    assert targets.url_problem("http://10.2.0.1/")
    assert targets.address_problem(__import__("ipaddress").ip_address("10.9.9.9"),
                                   "hooks.internal") is None
    defaults.NOTIFICATIONS = {**defaults.NOTIFICATIONS, "WEBHOOK_ALLOW_PRIVATE": True}
    assert targets.url_problem("http://192.168.1.1/") is None
    assert targets.url_problem("http://0.0.0.0/")  # never an address to send to


def test_an_allow_list_of_host_names_limits_every_url(defaults):
    defaults.NOTIFICATIONS = {**defaults.NOTIFICATIONS, "WEBHOOK_HOSTS": [".example.org"]}
    assert targets.url_problem("https://hooks.example.org/") is None
    assert targets.url_problem("https://example.org/") is None
    assert "JOBPORTAL_WEBHOOK_HOSTS" in targets.url_problem("https://evil.example.net/")


def test_a_name_that_resolves_to_loopback_is_refused_when_sent(defaults):
    # "localhost" is refused when saved; a name of the operator's that resolves to loopback
    # is caught by the lookup at send time.
    defaults.NOTIFICATIONS = {**defaults.NOTIFICATIONS, "WEBHOOK_HOSTS": []}
    outcome = webhooks.post("http://localhost.localdomain/", b"{}", {}, 1)
    assert not outcome.ok and not outcome.retry
    assert outcome.error.startswith("Refused")
