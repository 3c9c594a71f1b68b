"""Working-directory packages of the Ray shape: upload, per-account storage, hostile archives
refused with nothing written, unpacking, retention."""

import io
import os
import stat
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs import lifecycle, packages
from jobs.models import Command, Package
from tests.jobs.factories import submit_shell
from tests.jobs.test_sql_support import use_media_root

NAME = "_ray_pkg_0123456789abcdef.zip"
URL = f"/api/packages/gcs/{NAME}"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)
    return tmp_path / "media"


def archive(*members):
    """A zip of ``(name, data)`` members; data None makes a directory entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, b"target")
            else:
                zf.writestr(name, data if data is not None else b"")
    return buffer.getvalue()


def link(name, target="/etc/passwd"):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return name, info


def put(actor, body, url=URL):
    return actor.client.put(url, body, content_type="application/zip")


def stored_files(media):
    return [p for p in media.rglob("*") if p.is_file()]


def test_an_upload_is_stored_once_per_account_and_found_by_its_name(member, admin, outsider,
                                                                      media):
    assert member.client.get(URL).status_code == 404
    body = archive(("main.py", b"print(1)\n"), ("pkg/", None), ("pkg/data.txt", b"x"))
    assert put(member, body).status_code == 200
    assert member.client.get(URL).status_code == 200
    assert admin.client.get(URL).status_code == 200  # the account's, not the uploader's
    assert outsider.client.get(URL).status_code == 404
    assert put(admin, body).status_code == 200  # already there: kept, not stored again
    package = Package.objects.get()
    assert (package.file_count, package.unpacked_size, package.size) == (2, 10, len(body))
    assert len(stored_files(media)) == 1


def test_an_empty_working_dir_is_accepted_as_rays_client_packs_it(member, tmp_path):
    """Ray's client packs an empty directory as one entry for the root itself, ``./``."""
    from ray._private.runtime_env.packaging import _zip_files

    empty, body = tmp_path / "empty", tmp_path / "empty.zip"
    empty.mkdir()
    _zip_files(str(empty), [], str(body), include_gitignore=False)
    assert [info.filename for info in zipfile.ZipFile(body).infolist()] == ["./"]
    assert put(member, body.read_bytes()).status_code == 200
    package = Package.objects.get()
    assert (package.file_count, package.unpacked_size) == (0, 0)
    assert packages.unpack(package, str(tmp_path / "wd")) == 0


@pytest.mark.parametrize("members, reason", [
    ([("/etc/cron.d/x", b"x")], "relative POSIX paths"),
    ([("../escape.py", b"x")], "'..'"),
    ([("a/../../escape.py", b"x")], "'..'"),
    ([("a\\..\\b", b"x")], "relative POSIX paths"),
    ([("C:/x", b"x")], "relative POSIX paths"),
    ([link("evil")], "is a link"),
    ([("ok.txt", b"x"), ("ok.txt", b"y")], "appears twice"),
])
def test_unsafe_archives_are_400_and_nothing_is_written(member, media, members, reason):
    response = put(member, archive(*members))
    assert response.status_code == 400, response.content
    assert reason in response.content.decode()
    assert not Package.objects.exists()
    assert stored_files(media) == []


def test_too_many_files_is_a_400(member, media, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_PACKAGE_FILES": 10}
    response = put(member, archive(*[(f"f{n}", b"x") for n in range(11)]))
    assert response.status_code == 400
    assert "more than 10 entries" in response.content.decode()
    assert not Package.objects.exists() and stored_files(media) == []


def test_a_compression_bomb_is_a_400_even_when_its_headers_understate_it(member, media,
                                                                         settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_PACKAGE_UNPACKED_BYTES": 1024**2}
    honest = archive(("zeros", b"\0" * (4 * 1024**2)))
    assert len(honest) < 64 * 1024
    assert "unpacks to more than" in put(member, honest).content.decode()
    # The same member with a central directory that claims 10 bytes.
    lying = bytearray(honest)
    central = lying.rindex(b"PK\x01\x02")
    lying[central + 24:central + 28] = (10).to_bytes(4, "little")
    response = put(member, bytes(lying))
    assert response.status_code == 400
    assert "unpacks to more than" in response.content.decode() or (
        "cannot be read" in response.content.decode())
    assert not Package.objects.exists() and stored_files(media) == []


def test_an_archive_larger_than_the_limit_is_413(member, media, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_PACKAGE_BYTES": 1000}
    response = put(member, archive(("big", os.urandom(5000))))
    assert response.status_code == 413
    assert not Package.objects.exists() and stored_files(media) == []


@pytest.mark.parametrize("body", [b"", b"not a zip at all", archive()[:-5]])
def test_what_is_not_a_zip_is_a_400(member, body):
    response = put(member, body)
    assert response.status_code == 400
    assert not Package.objects.exists()


@pytest.mark.parametrize("url", ["/api/packages/s3/" + NAME, "/api/packages/gcs/other.zip",
                                 "/api/packages/gcs/_ray_pkg_XYZ.zip"])
def test_only_rays_package_names_are_accepted(member, url):
    assert put(member, archive(("a", b"x")), url).status_code == 400
    assert member.client.get(url).status_code == 400


def test_a_reader_may_not_upload_and_sees_no_packages(member, reader):
    assert put(member, archive(("a", b"x"))).status_code == 200
    response = put(reader, archive(("b", b"x")), URL.replace("0123", "9999"))
    assert response.status_code == 400
    assert "may not submit" in response.content.decode()
    assert reader.client.get(URL).status_code == 404


def test_a_submission_names_an_uploaded_package_as_its_working_dir(member):
    put(member, archive(("main.py", b"print(1)")))
    response = member.client.post("/api/jobs/", {
        "entrypoint": "python main.py", "runtime_env": {"working_dir": f"gcs://{NAME}"}},
        format="json")
    assert response.status_code == 200, response.content
    command = Command.objects.get()
    assert command.runtime_env == {"package": f"gcs://{NAME}"}
    details = member.client.get(f"/api/jobs/{command.pk}").json()
    assert details["runtime_env"] == {"working_dir": f"gcs://{NAME}"}


def test_unpacking_recreates_the_files_with_their_executable_bit(member, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        script = zipfile.ZipInfo("bin/run.sh")
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(script, b"#!/bin/sh\necho hi\n")
        zf.writestr("data/readme.txt", b"hello")
    package, _ = packages.store(member.membership, "gcs://" + NAME, io.BytesIO(buffer.getvalue()))
    target = tmp_path / "wd"
    assert packages.unpack(package, str(target)) == len(b"#!/bin/sh\necho hi\n") + 5
    packages.give(str(target), 65534, 65534)
    assert {os.stat(p).st_uid for p in [target, *target.rglob("*")]} == {65534}
    assert (target / "data/readme.txt").read_bytes() == b"hello"
    assert os.stat(target / "bin/run.sh").st_mode & 0o111


def test_prune_removes_unused_packages_but_keeps_those_active_commands_name(member, media):
    old = timezone.now() - timedelta(days=member.account.retention_days + 1)
    used_uri, idle_uri = (f"gcs://_ray_pkg_{c * 16}.zip" for c in "ab")
    for uri in (used_uri, idle_uri):
        packages.store(member.membership, uri, io.BytesIO(archive(("a", uri.encode()))))
    Package.objects.update(last_used_at=old)
    active = submit_shell(member, runtime_env={"package": used_uri})
    call_command("prune", stdout=io.StringIO())
    assert list(Package.objects.values_list("uri", flat=True)) == [used_uri]
    assert len(stored_files(media)) == 1
    lifecycle.cancel(active)
    call_command("prune", stdout=io.StringIO())
    assert not Package.objects.exists() and stored_files(media) == []


def test_operators_see_packages_read_only_and_deleting_one_removes_its_file(member, media,
                                                                            client):
    from accounts.models import User

    put(member, archive(("a", b"x")))
    package = Package.objects.get()
    operator = User.objects.create_user("ops@example.test", is_staff=True, is_superuser=True)
    client.force_login(operator)
    assert NAME in client.get("/admin/jobs/package/").content.decode()
    assert client.get(f"/admin/jobs/package/{package.pk}/change/").status_code == 200
    assert client.get("/admin/jobs/package/add/").status_code == 403
    response = client.post(f"/admin/jobs/package/{package.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Package.objects.exists() and stored_files(media) == []
