"""The pages in a real browser: Debian's Chromium driven by Playwright against a live portal
(web server and workers, ``tests.live.Site``). The tests also take the screenshots that
``docs/pages.md`` and the README show (``docs/img/``)."""

import os
import re
import tempfile
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.live import Site, poll, stop

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGES = Path(settings.BASE_DIR) / "docs" / "img"
# Where the screenshots go: a scratch directory, unless `make screenshots` asks for docs/img
# (a test run must not rewrite tracked files).
SHOTS = Path(os.environ.get("JOBPORTAL_SCREENSHOTS_DIR")
             or Path(tempfile.gettempdir()) / "jobportal-screenshots")
THREE_STEPS = 'for i in 1 2 3; do echo step $i; echo "::progress $i/3"; sleep 1; done'
READER_EMAIL, READER_PASSWORD = "reader@demo.example", "a reader's password 42"
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    # One live portal and one browser for the module: its tests stay on one xdist worker
    # (make test runs --dist loadgroup).
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=(
        f"no browser: Debian's chromium package is not installed ({CHROMIUM} is missing; "
        ".ci/run installs it, or: apt-get install chromium)")),
]

MAKE_READER = f"""
from accounts.models import Account, Group, Membership, Policy, Role, User
account = Account.objects.get(slug="demo")
user = User.objects.create_user({READER_EMAIL!r}, {READER_PASSWORD!r})
role = Role.objects.create(account=account, name="viewer")
Policy.objects.create(role=role, resource="commands", actions=["read"])
group = Group.objects.create(account=account, name="viewers")
group.roles.add(role)
Membership.objects.create(account=account, user=user).groups.add(group)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A live portal with three worker slots, the demo admin and a read-only member."""
    portal = Site(tmp_path_factory.mktemp("browser"), JOBPORTAL_LOG_FLUSH_SECONDS="0.2")
    portal.manage("collectstatic", "--noinput", "-v0")
    portal.manage("shell", "-c", MAKE_READER)
    portal.email, portal.password = re.search(r"login (\S+) / (\S+)", portal.demo).groups()
    proc = portal.serve("--concurrency", "3")
    yield portal
    stop(proc)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless (Playwright's own browser builds are not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def sign_in(chromium, site, email, password, **context_options):
    """A page of a new browser context, signed in through the login form from ``/``."""
    options = {"viewport": {"width": 1280, "height": 860}, **context_options}
    context = chromium.new_context(base_url=site.url, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")
    assert "/accounts/login/" in page.url
    # By keyboard: the email field, Tab to the password, Enter sends the form.
    page.get_by_label("Email").fill(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^[^?]*/commands/$"))
    return page


def shoot(page, name, full_page=True):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def wait_status(site, pk, status):
    return poll(lambda: site.status(pk) == status, timeout=TIMEOUT_MS / 1000)


def test_submit_and_watch_progress_and_log_arrive_without_reloading(site, chromium):
    page = sign_in(chromium, site, site.email, site.password)
    page.get_by_role("link", name="New command").first.click()
    page.get_by_label("Script").fill(THREE_STEPS)
    page.get_by_label("Name").fill("three steps")
    shoot(page, "submit.png")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/commands/\d+/$"))
    page.evaluate("window.notReloaded = true")
    # Part of the way: a step's line is there and the bar stands between 0 and 100.
    page.wait_for_function("() => { const p = document.getElementById('progress');"
                           " return p && p.value > 0 && p.value < 100 &&"
                           " document.getElementById('log').innerText.includes('step 1'); }")
    page.wait_for_function("() => document.getElementById('log').innerText.includes('step 3')")
    page.wait_for_function("() => document.getElementById('progress').value === 100")
    page.locator("#status-word .badge-done").wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#progress-text").inner_text().startswith("100%")
    assert "3 of 3 steps" in page.locator("#summary").inner_text()
    assert page.locator("#exit-code").inner_text() == "0"
    shoot(page, "status.png")


def test_a_big_log_never_lands_in_the_page_whole(site, chromium):
    # About 8 MB of output while the page is open: the page keeps the end and a way back.
    pk = site.submit("echo first-line; sleep 2; "
                     "for i in $(seq 80000); do echo line $i of a long log......................"
                     "...........; done; sleep 2")
    wait_status(site, pk, "running")
    page = sign_in(chromium, site, site.email, site.password)
    page.goto(f"/commands/{pk}/")
    page.locator("#status-word .badge-done").wait_for(timeout=120_000)
    page.wait_for_function(
        "() => document.getElementById('log').innerText.includes('line 80000 of')")
    shown = page.evaluate("document.getElementById('log').textContent.length")
    assert shown < 2_000_000
    assert "first-line" not in page.locator("#log").inner_text()
    page.locator("#log-earlier").click()  # the part before the first byte shown
    page.wait_for_function("n => document.getElementById('log').textContent.length > n",
                           arg=shown)


def test_cancel_a_running_command_from_its_page(site, chromium):
    pk = site.submit("echo started; sleep 60")
    wait_status(site, pk, "running")
    page = sign_in(chromium, site, site.email, site.password)
    page.goto(f"/commands/{pk}/")
    page.wait_for_function("() => document.getElementById('log').innerText.includes('started')")
    page.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")
    page.locator("#status-word .badge-cancelled").wait_for()
    assert site.status(pk) == "cancelled"
    assert page.locator("#cancel-button").count() == 0


def test_page_through_results_and_download_csv(site, chromium):
    created = site.api("POST", "commands/", json={
        "command_type": "sql", "name": "numbers",
        "query": "SELECT n, n * n AS square FROM range(120) t(n)"})
    assert created.status_code == 201, created.text
    pk = created.json()["id"]
    wait_status(site, pk, "done")
    page = sign_in(chromium, site, site.email, site.password)
    page.goto(f"/commands/{pk}/")
    assert page.locator("#rows-shown").inner_text() == "Rows 1 to 50 of 120"
    page.get_by_role("link", name="Next rows").click()
    page.locator("#rows-shown", has_text="Rows 51 to 100 of 120").wait_for()
    assert "/rows/" not in page.url  # swapped in place
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "n,square" and lines[11] == "10,100" and len(lines) == 121


def test_a_read_only_member_sees_no_cancel_button(site, chromium):
    pk = site.submit("sleep 30")
    wait_status(site, pk, "running")
    page = sign_in(chromium, site, READER_EMAIL, READER_PASSWORD)
    page.goto(f"/commands/{pk}/")
    page.locator("#status-word .badge-running").wait_for()
    assert page.locator("#cancel-button").count() == 0
    assert page.locator("#rerun-button").count() == 0
    # And the server refuses it anyway.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(f"/commands/{pk}/cancel/", headers={"X-CSRFToken": csrf},
                                form={"csrfmiddlewaretoken": csrf})
    assert refused.status == 403
    assert site.status(pk) == "running"
    site.api("POST", f"commands/{pk}/cancel/")


def test_history_and_queue_pages(site, chromium):
    found = site.api("POST", "commands/", json={"command_type": "shell", "script": "true",
                                                "name": "find-me"})
    assert found.status_code == 201, found.text
    # Three worker slots and an account limit of four: three run, one is queued for a
    # worker, one waits for the account's limit.
    running = [site.submit(f"echo busy {n}; sleep 20") for n in range(5)]
    poll(lambda: sum(site.status(pk) == "running" for pk in running) == 3,
         timeout=TIMEOUT_MS / 1000)
    page = sign_in(chromium, site, site.email, site.password)
    page.goto("/commands/queue/")
    page.locator("#queue .badge-throttled").wait_for()
    assert page.locator("#queue .badge-running").count() >= 3
    assert page.locator("#queue .badge-queued").count() >= 1
    shoot(page, "queue.png")
    page.goto("/commands/")
    page.get_by_label("Search").fill("find-me")
    page.wait_for_url(re.compile(r"search=find-me"))
    page.locator("#history tbody tr").first.wait_for()
    assert page.locator("#history tbody tr").count() == 1
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url(re.compile(r"^[^?]*/commands/$"))
    shoot(page, "history.png")
    phone = sign_in(chromium, site, site.email, site.password, color_scheme="dark",
                    viewport={"width": 390, "height": 844})
    phone.goto(f"/commands/{running[0]}/")
    shoot(phone, "status-phone-dark.png", full_page=False)
    for pk in running:
        site.api("POST", f"commands/{pk}/cancel/")


def test_the_admin_job_list_fits_1400_pixels_beside_its_filters(site, chromium):
    """Every column, worker last, without scrolling sideways: an operator's usual screen."""
    failed = site.submit("echo no >&2; exit 3")
    wait_status(site, failed, "error")
    context = chromium.new_context(base_url=site.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(site.email)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/jobs/command/")
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[-3:]] == ["user", "account", "worker"]
    overflow = page.evaluate("() => { const box = document.querySelector('.results');"
                             " return box.scrollWidth - box.clientWidth; }")
    assert overflow <= 0
    worker = page.locator("#result_list thead th.column-worker").bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert worker["x"] + worker["width"] <= filters["x"]
    assert "NonZeroExit" in page.locator("#result_list tbody tr").first.inner_text()
    shoot(page, "admin-history.png", full_page=False)
    context.close()


def test_screenshots_exist_for_the_docs():
    """The README shows these; `make screenshots` retakes them with the tests above."""
    for name in ("history.png", "status.png", "submit.png", "queue.png"):
        assert (DOCS_IMAGES / name).stat().st_size > 10_000, name


def test_no_asset_comes_from_outside_the_portal(site):
    page = httpx.get(f"{site.url}/accounts/login/").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") or s.startswith("#") for s in sources), sources
    # htmx is the copy the django-htmx package ships, served by the portal itself.
    assert httpx.get(f"{site.url}/static/django_htmx/htmx-2.min.js").status_code == 200


def test_without_an_event_stream_the_status_page_still_follows_the_command(
        tmp_path_factory, chromium):
    # A portal that refuses every event stream (429): the page asks for its status block.
    portal = Site(tmp_path_factory.mktemp("nostreams"), JOBPORTAL_MAX_STREAMS_PER_ACCOUNT="0")
    portal.manage("collectstatic", "--noinput", "-v0")
    portal.email, portal.password = re.search(r"login (\S+) / (\S+)", portal.demo).groups()
    proc = portal.serve("--concurrency", "1")
    try:
        page = sign_in(chromium, portal, portal.email, portal.password)
        pk = portal.submit("sleep 5; echo finished")
        wait_status(portal, pk, "running")
        page.goto(f"/commands/{pk}/")
        assert page.locator("#status-word .badge-running").count() == 1
        page.locator("#status-word .badge-done").wait_for()
        assert page.locator("#exit-code").inner_text() == "0"
    finally:
        stop(proc)
