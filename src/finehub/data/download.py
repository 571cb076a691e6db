"""Getting a dataset's files onto disk: a local folder, a local file or archive, or a URL.

Cache layout under ``FINEHUB_HOME/datasets``::

    downloads/<sha256(url)[:16]>/<file name>   a downloaded file, verified when a sha256 is pinned
    downloads/<sha256(url)[:16]>.lock           held while that URL is being fetched
    extracted/<sha256(archive)[:16]>/...        an archive unpacked once, keyed by its content
    extracted/<sha256(archive)[:16]>.lock

A download streams into a process-unique temp file, is verified, then renamed into place; an
archive unpacks into a temp folder that is renamed when complete. So a killed process never
leaves a half-written file where a complete one is expected. With ``FINEHUB_OFFLINE=1`` (or
``HF_HUB_OFFLINE=1``) nothing is fetched, but cached downloads are still used.

A download is bounded by the ``download_max_bytes`` and ``download_timeout`` settings (a whole
transfer, not a single read), an archive by the ``archive_*`` ones (see :mod:`finehub.hub.settings`).
Only regular files are read: a device such as ``/dev/zero`` or a FIFO is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from finehub._utils import transfer
from finehub._utils.archive import is_archive, safe_extract
from finehub._utils.fs import atomic_path, file_lock
from finehub._utils.hashing import check_sha256, sha256_file, verify_sha256
from finehub._utils.paths import datasets_dir, offline
from finehub.errors import ConfigError, IntegrityError, OfflineError
from finehub.hub import settings

log = logging.getLogger(__name__)

_REMOTE_SCHEMES = ("http", "https")


def fetch(
    source: str | Path, *, sha256: str | None = None, timeout: float = 60.0, hint: str | None = None
) -> Path:
    """A local path holding ``source``'s content.

    ``source`` is a folder (returned as is), a file, or an ``http(s)://`` / ``file://`` URL.
    Files are checked against ``sha256`` when given; archives are unpacked (safely, once) and
    the unpacked folder is returned, or its only top-level folder when it holds just one.
    ``hint`` ends the :class:`OfflineError` raised when a URL cannot be fetched. ``timeout`` bounds
    each wait for data; the whole download is bounded by the ``download_timeout`` setting.
    """
    if sha256 is not None:
        sha256 = check_sha256(sha256, where="sha256")
    path = _as_local_path(source)
    if path is None:
        path = download(str(source), sha256=sha256, timeout=timeout, hint=hint)
    elif not path.exists():
        raise ConfigError("source", f"{str(path)!r} does not exist; pass an existing folder, file or archive")
    elif path.is_dir():
        if sha256 is not None:
            raise ConfigError(
                "sha256", f"pins a file, but {str(path)!r} is a folder; drop sha256 or pass the archive"
            )
        return path
    elif not path.is_file():
        raise ConfigError(
            "source", f"{str(path)!r} is not a regular file, folder or archive (a device or FIFO?)"
        )
    elif sha256 is not None:
        verify_sha256(path, sha256)
    return unpack(path) if is_archive(path) else path


def download(url: str, *, sha256: str | None = None, timeout: float = 60.0, hint: str | None = None) -> Path:
    """The cached copy of ``url``, downloaded first if needed (see the module docstring for where)."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "download"
    target = datasets_dir() / "downloads" / key / name
    with file_lock(target.parent.with_suffix(".lock")):
        if target.exists():
            if sha256 is None or sha256_file(target) == sha256.lower():
                return target
            log.warning("Cached %s does not match the pinned sha256; downloading it again.", target)
        if offline():
            raise OfflineError(
                url, "offline mode is on (FINEHUB_OFFLINE or HF_HUB_OFFLINE) and it is not cached", hint=hint
            )
        with atomic_path(target) as tmp:
            transfer.download_to(
                url,
                tmp,
                limits=settings.transfer_limits("download"),
                what=url,
                hint=hint,
                read_timeout=timeout,
            )
            actual = sha256_file(tmp)
            if sha256 is None:
                log.warning(
                    "Downloaded %s without a pinned sha256; its sha256 is %s (pass sha256=... to pin it).",
                    url,
                    actual,
                )
            elif actual != sha256.lower():
                raise IntegrityError(url, sha256, actual)
    return target


def unpack(archive: Path) -> Path:
    """Unpack ``archive`` once into the cache; return the folder (or its single top-level folder)."""
    target = datasets_dir() / "extracted" / sha256_file(archive)[:16]
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_suffix(".lock")):
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                safe_extract(archive, tmp, limits=settings.archive_limits(), allow_links=True)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def _as_local_path(source: str | Path) -> Path | None:
    """The path a source names, or None for a remote URL."""
    if isinstance(source, Path):
        return source.expanduser()
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme in _REMOTE_SCHEMES:
        return None
    if "://" in source:
        raise ConfigError(
            "source", f"unsupported URL scheme in {source!r}; use http(s)://, file:// or a local path"
        )
    return Path(source).expanduser()
