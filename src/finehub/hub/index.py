"""The module index: a JSON document listing modules, their versions and where to get them.

Format (``format: 1``)::

    {"format": 1,
     "modules": [
       {"name": "my-sentiment", "summary": "...", "task": "text-classification", "tags": ["zh"],
        "versions": [
          {"version": "1.0.0", "url": "my-sentiment-1.0.0.tar.gz", "sha256": "...", "finehub": ">=0.1,<1"},
          {"version": "2.0.0", "source": "hf://org/repo@rev",
           "entry": "finehub.modules.text_encoder:TextEncoder", "config": {"pooling": "cls"}}]}]}

A version is either an archive (``url`` + ``sha256``; a relative ``url`` is resolved against the
index's own URL, so a folder served over HTTP or read through ``file://`` works) or a Hugging Face
repository (``source: hf://org/repo@revision``) loaded with ``entry``. finehub always reads the
index bundled with the package (built-ins and well-known encoders) and, when configured, one remote
index (``FINEHUB_INDEX_URL`` or ``finehub config set index_url URL``).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from finehub._utils import paths
from finehub.errors import InvalidManifestError, OfflineError
from finehub.hub import settings

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
BUNDLED = "bundled"


@dataclass(frozen=True)
class IndexVersion:
    """One installable version listed by an index."""

    name: str
    version: str
    url: str | None = None
    sha256: str | None = None
    source: str | None = None  # hf://org/repo@rev
    entry: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    finehub: str = ""
    summary: str = ""
    task: str = ""
    tags: tuple[str, ...] = ()
    index: str = BUNDLED


@dataclass
class Index:
    """The parsed entries of one index document."""

    location: str
    versions: list[IndexVersion]

    def find(self, name: str) -> list[IndexVersion]:
        return [v for v in self.versions if v.name == name]

    def names(self) -> list[str]:
        return sorted({v.name for v in self.versions})


def parse_index(data: Any, location: str) -> Index:
    """Validate an index document; ``location`` resolves relative archive URLs and names errors."""
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("modules"), list):
        raise InvalidManifestError(location, 'an index must be {"format": 1, "modules": [...]}')
    out: list[IndexVersion] = []
    for i, mod in enumerate(data["modules"]):
        where = f"{location} modules[{i}]"
        if not isinstance(mod, dict) or "name" not in mod or not isinstance(mod.get("versions"), list):
            raise InvalidManifestError(where, "each module needs 'name' and a 'versions' list")
        for j, ver in enumerate(mod["versions"]):
            vwhere = f"{where} versions[{j}]"
            if "version" not in ver:
                raise InvalidManifestError(vwhere, "missing 'version'")
            has_archive, has_source = "url" in ver, "source" in ver
            if has_archive == has_source:
                raise InvalidManifestError(
                    vwhere, "give exactly one of 'url' (with 'sha256') or 'source' (hf://...)"
                )
            if has_archive and not ver.get("sha256"):
                raise InvalidManifestError(vwhere, "an archive 'url' needs its 'sha256'")
            url = urllib.parse.urljoin(location, ver["url"]) if has_archive else None
            out.append(
                IndexVersion(
                    name=mod["name"],
                    version=str(ver["version"]),
                    url=url,
                    sha256=ver.get("sha256"),
                    source=ver.get("source"),
                    entry=ver.get("entry", ""),
                    config=dict(ver.get("config", {})),
                    finehub=ver.get("finehub", ""),
                    summary=mod.get("summary", ""),
                    task=mod.get("task", ""),
                    tags=tuple(mod.get("tags", ())),
                    index=location,
                )
            )
    return Index(location, out)


def bundled_index() -> Index:
    text = resources.files("finehub.hub").joinpath("default_index.json").read_text(encoding="utf-8")
    return parse_index(json.loads(text), BUNDLED)


def configured_index_url() -> str | None:
    """FINEHUB_INDEX_URL, else ``index_url`` from FINEHUB_HOME/config.json, else none."""
    url = os.environ.get("FINEHUB_INDEX_URL")
    if url:
        return url
    return settings.read().get("index_url") or None


def fetch_index(url: str) -> Index:
    """Read and parse the index at ``url`` (``file://``, ``http(s)://`` or a plain path)."""
    data = json.loads(fetch_bytes(url, what=f"the module index at {url}"))
    return parse_index(data, to_url(url))


def indexes(*, remote: bool = True) -> Iterator[Index | OfflineError]:
    """The bundled index, then the configured one; an unreachable remote index yields its error."""
    yield bundled_index()
    url = configured_index_url()
    if remote and url:
        try:
            yield fetch_index(url)
        except OfflineError as e:
            log.warning("%s", e)
            yield e


def to_url(location: str) -> str:
    """A plain path becomes a file:// URL; URLs are returned as they are."""
    if "://" in location:
        return location
    return Path(location).expanduser().resolve().as_uri()


def fetch_bytes(url: str, *, what: str) -> bytes:
    """GET a URL with a timeout; every failure to reach it becomes OfflineError."""
    return b"".join(iter_url(url, what=what))


def download_to(url: str, dest: Path, *, what: str) -> None:
    """Stream ``url`` into ``dest`` (a path the caller owns, e.g. a temp file), with a timeout."""
    with open(dest, "wb") as out:
        for chunk in iter_url(url, what=what):
            out.write(chunk)


def iter_url(url: str, *, what: str) -> Iterator[bytes]:
    """Chunks of a URL's body. Network failures (only those) are translated to OfflineError."""
    url = to_url(url)
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("file", "http", "https"):
        raise InvalidManifestError(
            url, f"unsupported URL scheme {scheme!r}; use file://, http:// or https://"
        )
    if scheme != "file" and paths.offline():
        raise OfflineError(what, "offline mode is on (FINEHUB_OFFLINE=1)")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 - scheme checked above
            while chunk := resp.read(1 << 20):
                yield chunk
    except urllib.error.HTTPError as e:
        raise OfflineError(what, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise OfflineError(what, str(getattr(e, "reason", e)) or type(e).__name__) from e
