"""The manifest's photographs from Debian packages: ``apt-get download`` and ``dpkg-deb``, no install.

Most packages come from the system's own apt sources (Debian bookworm); a package whose manifest
entry names an ``"archive"`` (Debian trixie, Ubuntu noble) is downloaded through a private apt
configuration under ``<cache>/.apt`` (:func:`apt_options`), so nothing on the system changes.

:func:`fetch_packages` downloads each package that still has photos to write (kept in a cache
folder), reads them straight out of its data tarball, checks them against the sha256 and size in
``restore/data/photos_manifest.json``, and writes them downsized as PNG. The command line is
``python -m restore.data.photos`` (:mod:`restore.data.photos`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from restore.data.photo_files import (
    IMAGE_SUFFIXES,
    ManifestMismatchError,
    PhotoError,
    Summary,
    decode_photo,
    downsize,
    load_manifest,
    save_image,
    take_existing,
)

log = logging.getLogger(__name__)

REQUIRED_TOOLS: tuple[str, ...] = ("apt-get", "dpkg-deb")


class MissingToolError(PhotoError):
    """``apt-get`` or ``dpkg-deb`` is not installed."""


@dataclass(frozen=True)
class Member:
    """The parts of a tar member that :func:`select_member` needs.

    Attributes:
        path: path inside the package, without a leading ``./``.
        kind: ``"file"``, ``"symlink"`` or ``"other"``.
        size: size in bytes (0 for links).
        target: link target as stored in the archive (relative or absolute).
    """

    path: str
    kind: str
    size: int = 0
    target: str = ""


def select_member(members: Mapping[str, Member], wanted: str) -> str:
    """Find the regular file that stands for ``wanted`` inside a package listing.

    In order: ``wanted`` itself; a file of the same stem with another image extension (any
    case); for a wallpaper ``.../images/`` folder, its largest real image. Symlinks are followed
    to the file they point to, so a master image shared by several sizes is taken once.

    Args:
        members: package listing keyed by path without leading ``./``.
        wanted: path recorded in the manifest.

    Returns:
        Path of a regular file in ``members``.

    Raises:
        ManifestMismatchError: if nothing suitable is there; the message lists the folder.
    """
    want = PurePosixPath(wanted.removeprefix("./"))
    siblings = [PurePosixPath(p) for p in members if PurePosixPath(p).parent == want.parent]
    images = [p for p in siblings if p.suffix.lower() in IMAGE_SUFFIXES]
    candidates = [p for p in images if p == want] or [p for p in images if p.stem.lower() == want.stem.lower()]
    if not candidates and want.parent.name == "images":
        real = [p for p in images if _resolve(members, str(p)) == str(p)]
        candidates = sorted(real, key=lambda p: (_pixels_in_name(p.stem), members[str(p)].size))[-1:]
    if not candidates:
        listing = ", ".join(sorted(p.name for p in siblings)) or "nothing"
        raise ManifestMismatchError(f"{wanted} is not in the package; its folder holds: {listing}")
    return _resolve(members, str(candidates[0]))


def _resolve(members: Mapping[str, Member], path: str) -> str:
    for _ in range(16):
        member = members.get(path)
        if member is None or member.kind != "symlink":
            break
        target = PurePosixPath(member.target)
        joined = target if target.is_absolute() else PurePosixPath(path).parent / target
        path = os.path.normpath(str(joined)).lstrip("/")
    if path not in members or members[path].kind != "file":
        raise ManifestMismatchError(f"{path} is a dangling or looping link in the package")
    return path


def _pixels_in_name(stem: str) -> int:
    match = re.fullmatch(r"(\d+)x(\d+)", stem)
    return int(match[1]) * int(match[2]) if match else 0


def require_tools(tools: Iterable[str] = REQUIRED_TOOLS) -> None:
    """Raise :class:`MissingToolError` unless every tool is on ``PATH``."""
    if missing := [t for t in tools if shutil.which(t) is None]:
        raise MissingToolError(
            f"{' and '.join(missing)} not found: fetching the photographs needs Debian's apt-get and "
            "dpkg-deb (nothing is installed, packages are only downloaded and unpacked). On other "
            "systems use `python -m restore.data.photos --from DIR` with a folder of your own clean photos."
        )


def _run(cmd: list[str], cwd: Path | None = None, hint: str = "") -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise PhotoError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {tail}{hint}")
    return proc.stdout


def apt_options(name: str, archive: Mapping[str, Any], cache: Path, archives: Mapping[str, Any]) -> list[str]:
    """``apt-get`` options for a private view of another archive (e.g. Debian trixie, Ubuntu noble).

    Everything apt keeps for it (sources list, package lists, keyring) lives under
    ``<cache>/.apt/<name>``; the system's own apt configuration and state are never touched. The
    archive's keyring is either a path on this system (``keyring``) or a file taken from a package
    of another archive (``keyring_from``: ``package``, ``archive``, ``member``), e.g. Debian's
    ``ubuntu-keyring``. The package lists are fetched with ``apt-get update`` once per process.
    """
    root = (cache / ".apt" / name).resolve()
    if "keyring_from" in archive:
        source = archive["keyring_from"]
        keyring = root / PurePosixPath(source["member"]).name
        if not keyring.is_file():
            deb = fetch_deb(source["package"], "", cache, source.get("archive"), archives)
            with tempfile.TemporaryDirectory() as tmp:
                _run(["dpkg-deb", "-x", str(deb), tmp])
                root.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(tmp) / source["member"], keyring)
    else:
        keyring = Path(archive["keyring"])
    for sub in ("lists/partial", "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(
        f"deb [arch=amd64 signed-by={keyring}] {archive['uri']} {archive['suite']} {archive['components']}\n"
    )
    options = [
        f"-oDir::Etc::SourceList={sources}",
        "-oDir::Etc::SourceParts=/nonexistent",
        f"-oDir::State::Lists={root / 'lists'}",
        f"-oDir::Cache={root / 'cache'}",
        "-oAPT::Architectures::=amd64",  # the wallpapers are Architecture: all, listed under amd64
        "-oAcquire::Languages=none",
    ]
    if name not in _UPDATED:
        _run(["apt-get", *options, "update"], hint=f"; check that {archive['uri']} can be reached")
        _UPDATED.add(name)
    return options


_UPDATED: set[str] = set()


def fetch_deb(
    package: str,
    version: str,
    cache: Path,
    archive: str | None = None,
    archives: Mapping[str, Any] | None = None,
) -> Path:
    """Return a cached ``.deb`` of ``package``, downloading it with ``apt-get download`` if needed.

    The exact ``version`` is preferred; if apt no longer offers it, the current one is taken and
    the checksums decide later whether its photos still match. ``archive`` names an entry of
    ``archives`` (the manifest's ``"archives"``) for a package that the system's apt sources do
    not carry; see :func:`apt_options`. An empty ``version`` takes any cached or current one.
    """
    cache.mkdir(parents=True, exist_ok=True)
    cached = sorted(cache.glob(f"{package}_*.deb"))
    if cached and not version:
        return cached[-1]
    for deb in cached:
        if (
            _run(["dpkg-deb", "-f", str(deb), "Version"], hint=f"; delete {deb} to download it again").strip()
            == version
        ):
            return deb
    hint = "; run `apt-get update` as root and check the network, or use --from DIR with your own photos"
    options = apt_options(archive, (archives or {})[archive], cache, archives or {}) if archive else []
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        try:
            _run(
                ["apt-get", *options, "download", f"{package}={version}" if version else package],
                cwd=Path(tmp),
                hint=hint,
            )
        except PhotoError as err:
            if not version:
                raise
            log.warning(
                "%s=%s could not be downloaded (%s); trying the current version", package, version, err.args[0][:80]
            )
            _run(["apt-get", *options, "download", package], cwd=Path(tmp), hint=hint)
        (deb,) = Path(tmp).glob("*.deb")
        final = cache / deb.name
        os.replace(deb, final)
    log.info("downloaded %s (%.1f MB)", final.name, final.stat().st_size / 1e6)
    return final


def fetch_packages(out: Path, cache: Path, scale: int = 2, manifest: Mapping[str, Any] | None = None) -> Summary:
    """Extract, verify, downsize and write every photograph of the manifest.

    Raises:
        MissingToolError: if photos are missing and apt-get/dpkg-deb are not installed.
        PhotoError: if a download or extraction fails.
        ManifestMismatchError: if a photo is missing or differs from the manifest's checksum
            in the manifest's package version.
    """
    manifest = manifest if manifest is not None else load_manifest()
    summary, todo = Summary(), []
    for photo in manifest["photos"]:
        before = (photo["width"], photo["height"])
        after = (before[0] // scale, before[1] // scale)
        present = take_existing(out, photo["name"], photo["split"], after)
        summary.add(photo["split"], before, after, written=not present)
        if not present:
            todo.append(photo)
    if todo:
        require_tools()
    for package in sorted({p["package"] for p in todo}):
        entry = manifest["packages"][package]
        version = entry["version"]
        deb = fetch_deb(package, version, cache, entry.get("archive"), manifest.get("archives"))
        deb_version = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        with tempfile.TemporaryDirectory() as tmp:
            tar_path = Path(tmp) / "data.tar"
            with tar_path.open("wb") as fh:
                proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=fh, stderr=subprocess.PIPE)
            if proc.returncode != 0:
                raise PhotoError(f"cannot unpack {deb}: {proc.stderr.decode().strip()}; delete it to download again")
            with tarfile.open(tar_path) as tar:
                infos = {i.name.removeprefix("./"): i for i in tar.getmembers()}
                members = {p: _as_member(p, i) for p, i in infos.items()}
                for photo in (p for p in todo if p["package"] == package):
                    real = select_member(members, photo["member"])
                    if real != photo["member"]:
                        log.warning("%s: %s is missing, took %s instead", photo["name"], photo["member"], real)
                    data = tar.extractfile(infos[real]).read()
                    img = _check(photo, data, same_version=deb_version == version)
                    save_image(downsize(img, scale), out / photo["split"] / f"{photo['name']}.png", format="PNG")
                    log.info("%s -> %s/%s.png", real, photo["split"], photo["name"])
    return summary


def _as_member(path: str, info: tarfile.TarInfo) -> Member:
    kind = "file" if info.isfile() else "symlink" if info.issym() else "other"
    return Member(path, kind, info.size, info.linkname)


def _check(photo: Mapping[str, Any], data: bytes, *, same_version: bool) -> np.ndarray:
    img = decode_photo(Image.open(io.BytesIO(data)), photo["member"])
    problems = []
    if hashlib.sha256(data).hexdigest() != photo["sha256"]:
        problems.append("sha256 differs")
    if (img.shape[1], img.shape[0]) != (photo["width"], photo["height"]):
        problems.append(f"size is {img.shape[1]}x{img.shape[0]}, not {photo['width']}x{photo['height']}")
    if problems and same_version:
        raise ManifestMismatchError(f"{photo['name']}: {', '.join(problems)}; the .deb may be corrupt, delete it")
    if problems:
        log.warning("%s: %s (newer package version); using it anyway", photo["name"], ", ".join(problems))
    return img
