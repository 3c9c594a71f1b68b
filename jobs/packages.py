"""Working-directory packages: zip archives a client uploads once and commands name by URI.

An upload is read to a temporary file (never whole into memory), refused past
``MAX_PACKAGE_BYTES``, and checked from end to end before anything is stored: every member is
decompressed (and its CRC verified) while counting, so an archive whose headers understate its
size is caught as surely as one that states it. Refused: anything that is not a zip, names
that are absolute, hold ``..``, backslashes or NUL, links and other special files, duplicates,
more than ``MAX_PACKAGE_FILES`` members or more than ``MAX_PACKAGE_UNPACKED_BYTES`` unpacked.
A refused upload leaves nothing behind; an accepted one is one file in Django's storage and one
:class:`jobs.models.Package` row, stored once per account and URI.

The worker unpacks with the same checks (:func:`unpack`), creating each file exclusively and
without following links, into a directory of its own.
"""

import hashlib
import logging
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Command, Package, Status

logger = logging.getLogger(__name__)

READ_BYTES = 256 * 1024


class PackageError(ValueError):
    """An archive that cannot become (or be unpacked as) a package; ``message`` says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class PackageTooLarge(PackageError):
    """The archive itself is larger than ``MAX_PACKAGE_BYTES``."""


@dataclass(frozen=True)
class Limits:
    archive_bytes: int
    unpacked_bytes: int
    files: int

    @classmethod
    def configured(cls):
        config = settings.JOBPORTAL
        return cls(config["MAX_PACKAGE_BYTES"], config["MAX_PACKAGE_UNPACKED_BYTES"],
                   config["MAX_PACKAGE_FILES"])


def find(account_id, uri):
    """The account's package ``uri``, or None."""
    return Package.objects.filter(account_id=account_id, uri=uri).first()


def exists(account_id, uri):
    return Package.objects.filter(account_id=account_id, uri=uri).exists()


def touch(account_id, uri):
    """Record that a submission uses the package (retention counts from its last use);
    False if the account has no such package."""
    return bool(Package.objects.filter(account_id=account_id, uri=uri)
                .update(last_used_at=timezone.now()))


def store(member, uri, stream, limits=None):
    """Store the archive read from ``stream`` (``read(n)``) as the member's account's package
    ``uri``; ``(package, created)``. An existing package of that URI is kept as it is."""
    limits = limits or Limits.configured()
    existing = find(member.account_id, uri)
    if existing is not None:
        return existing, False
    with tempfile.TemporaryFile(prefix="jobportal-package-") as spool:
        digest, size = _spool(stream, spool, limits.archive_bytes)
        spool.seek(0)
        files, unpacked = check_archive(spool, limits)
        spool.seek(0)
        package = Package(account_id=member.account_id, uri=uri, sha256=digest, size=size,
                          unpacked_size=unpacked, file_count=files, created_by=member.user)
        package.file.save(f"{digest}.zip", File(spool), save=False)
    try:
        with transaction.atomic():
            package.save()
    except IntegrityError:  # the same URI raced in: keep the first, drop this copy
        package.file.delete(save=False)
        return find(member.account_id, uri), False
    return package, True


def _spool(stream, spool, max_bytes):
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(READ_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise PackageTooLarge(f"The package is larger than {max_bytes} bytes "
                                  "(JOBPORTAL_MAX_PACKAGE_BYTES).")
        digest.update(chunk)
        spool.write(chunk)
    if not size:
        raise PackageError("The package is empty.")
    return digest.hexdigest(), size


def check_archive(fileobj, limits):
    """``(files, unpacked bytes)`` of a safe archive; :class:`PackageError` otherwise.
    Reads every member through (so CRCs and real sizes are checked), writes nothing."""
    total, files = 0, 0
    for item, kind in _members(fileobj, limits):
        if kind == "file":
            files += 1
            total = _drain(item.archive, item.info, total, limits)
    return files, total


@dataclass
class _Member:
    archive: zipfile.ZipFile
    info: zipfile.ZipInfo
    path: PurePosixPath
    executable: bool


def _members(fileobj, limits):
    """Each member as ``(_Member, "dir" | "file")``, after the checks of its name and kind."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PackageError(f"Not a zip archive: {exc}.") from exc
    infos = archive.infolist()
    if len(infos) > limits.files:
        raise PackageError(f"The package holds more than {limits.files} entries "
                           "(JOBPORTAL_MAX_PACKAGE_FILES).")
    if sum(info.file_size for info in infos) > limits.unpacked_bytes:
        raise PackageError(_unpacked_message(limits))
    seen = set()
    for info in infos:
        if info.filename == "./" and info.is_dir():
            continue  # the root itself: Ray's packaging writes it for an empty working_dir
        path = _safe_path(info.filename)
        if path in seen:
            raise PackageError(f"{info.filename!r} appears twice in the package.")
        seen.add(path)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise PackageError(f"{info.filename!r} is a link; packages hold plain files only.")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise PackageError(f"{info.filename!r} is not a plain file or directory.")
        kind = "dir" if info.is_dir() else "file"
        yield _Member(archive, info, path, bool(mode & 0o111)), kind


def _unpacked_message(limits):
    return (f"The package unpacks to more than {limits.unpacked_bytes} bytes "
            "(JOBPORTAL_MAX_PACKAGE_UNPACKED_BYTES).")


def _safe_path(name):
    """The member's relative path; refuses names that could land outside the target."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (
            len(name) > 1 and name[1] == ":"):
        raise PackageError(f"{name!r}: member names must be relative POSIX paths.")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise PackageError(f"{name!r}: member names may not hold '..', '.' or empty parts.")
    if len(name) > 4096 or any(len(part.encode()) > 255 for part in parts):
        raise PackageError(f"{name[:100]!r}…: member name too long.")
    return PurePosixPath(*parts)


def _drain(archive, info, total, limits, out=None):
    """Decompress one member (into ``out`` if given), counting against the unpacked limit."""
    try:
        with archive.open(info) as member:
            while chunk := member.read(READ_BYTES):
                total += len(chunk)
                if total > limits.unpacked_bytes:
                    raise PackageError(_unpacked_message(limits))
                if out is not None:
                    out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            OSError) as exc:
        raise PackageError(f"{info.filename!r} cannot be read: {exc}.") from exc
    return total


def unpack(package, target, limits=None):
    """Unpack ``package`` into the directory ``target`` (created; must not exist) as the
    worker's own user, in a directory no other user may change (the command's user gets the
    tree afterwards, :func:`give`). Raises :class:`PackageError` (the caller removes
    ``target``)."""
    limits = limits or Limits.configured()
    try:
        return _unpack(package, target, limits)
    except OSError as exc:  # a missing stored file, a name that is both file and directory
        raise PackageError(f"{package.uri}: {exc.strerror or exc}.") from exc


def _unpack(package, target, limits):
    os.mkdir(target, 0o755)
    total = 0
    with package.file.open("rb") as fileobj:
        for item, kind in _members(fileobj, limits):
            path = os.path.join(target, *item.path.parts)
            _make_parents(target, item.path)
            if kind == "dir":
                if not os.path.isdir(path):
                    os.mkdir(path, 0o755)
                continue
            # Exclusive, no link followed: nothing already there is written through.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o755 if item.executable else 0o644)
            with os.fdopen(fd, "wb") as out:
                total = _drain(item.archive, item.info, total, limits, out)
    return total


def _make_parents(target, relative):
    path = target
    for part in relative.parts[:-1]:
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)  # fails on a file of that name: that archive is refused


def give(target, uid, gid):
    """Hand an unpacked tree to ``uid``/``gid``, deepest entries first: a directory changes
    hands only after everything in it did, so its new owner can no longer swap an entry
    for a link that this walk would follow."""
    for root, dirs, files in os.walk(target, topdown=False):
        for name in (*files, *dirs):
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
    os.chown(target, uid, gid, follow_symlinks=False)


def prune(account, cutoff, dry_run=False):
    """Packages of ``account`` unused since ``cutoff`` and named by no active command: their
    rows and stored files. Returns how many (would) go."""
    in_use = set(Command.objects.filter(account=account, status__in=Status.ACTIVE)
                 .exclude(runtime_env__package=None)
                 .values_list("runtime_env__package", flat=True))
    stale = [package for package in
             Package.objects.filter(account=account, last_used_at__lt=cutoff)
             if package.uri not in in_use]
    if dry_run:
        return len(stale)
    for package in stale:
        with transaction.atomic():
            deleted, _ = Package.objects.filter(pk=package.pk, last_used_at__lt=cutoff).delete()
        if deleted:
            package.file.delete(save=False)
    return len(stale)
