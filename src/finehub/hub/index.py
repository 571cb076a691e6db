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

Every field is checked before it is used: names and versions with :mod:`finehub.hub.names`, a
``sha256`` as 64 hex characters (it names a file in the download cache), URLs by scheme (an index
read over HTTP may not point at ``file://`` paths). A malformed entry raises
:class:`~finehub.errors.InvalidIndexError` naming the index and the entry. Fetching an index is
bounded in size and time by the ``index_max_bytes`` and ``index_timeout`` settings
(:mod:`finehub.hub.settings`).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from finehub._utils import paths, transfer
from finehub._utils.hashing import check_sha256
from finehub.errors import InvalidIndexError, InvalidManifestError, OfflineError
from finehub.hub import names, settings

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # longest wait for any data; the whole fetch is bounded by the index_timeout setting
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
        raise InvalidIndexError(location, "the document", 'an index must be {"format": 1, "modules": [...]}')
    out: list[IndexVersion] = []
    for i, mod in enumerate(data["modules"]):
        where = f"modules[{i}]"
        if not isinstance(mod, dict) or not isinstance(mod.get("versions"), list):
            raise InvalidIndexError(
                location, where, "each module must be an object with 'name' and a 'versions' list"
            )
        where = f"modules[{i}] {mod.get('name')!r}"
        _check(location, where, names.check_name, mod.get("name"))
        about = {key: _field(location, where, mod, key, str, "") for key in ("summary", "task")}
        tags = _field(location, where, mod, "tags", list, [])
        if not all(isinstance(t, str) for t in tags):
            raise InvalidIndexError(location, where, "'tags' must be a list of strings")
        for j, ver in enumerate(mod["versions"]):
            out.append(
                _parse_version(ver, location, f"{where} versions[{j}]", mod["name"], about, tuple(tags))
            )
    return Index(location, out)


def _parse_version(
    ver: Any, location: str, where: str, name: str, about: dict[str, str], tags: tuple[str, ...]
) -> IndexVersion:
    if not isinstance(ver, dict):
        raise InvalidIndexError(location, where, f"a version must be an object, not {ver!r}")
    version = _check(location, where, names.check_version, ver.get("version"))
    has_archive, has_source = "url" in ver, "source" in ver
    if has_archive == has_source:
        raise InvalidIndexError(
            location, where, "give exactly one of 'url' (with 'sha256') or 'source' (hf://...)"
        )
    url = sha256 = source = None
    if has_archive:
        sha256 = _check(location, where, check_sha256, ver.get("sha256"))
        url = urllib.parse.urljoin(location, _field(location, where, ver, "url", str, ""))
        _check(location, where, check_url, url, index=location)
    else:
        source = _field(location, where, ver, "source", str, "")
        if not source.startswith("hf://"):
            raise InvalidIndexError(location, where, f"'source' {source!r} must be hf://org/repo[@revision]")
    entry = _field(location, where, ver, "entry", str, "")
    if entry:
        _check(location, where, names.check_entry_form, entry)
    finehub = _field(location, where, ver, "finehub", str, "")
    if finehub:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(finehub)
        except InvalidSpecifier as e:
            raise InvalidIndexError(location, where, f"'finehub' {finehub!r} is not a version range") from e
    return IndexVersion(
        name=name,
        version=version,
        url=url,
        sha256=sha256,
        source=source,
        entry=entry,
        config=dict(_field(location, where, ver, "config", dict, {})),
        finehub=finehub,
        summary=about["summary"],
        task=about["task"],
        tags=tags,
        index=location,
    )


def _field(location: str, where: str, obj: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = obj.get(key, default)
    if not isinstance(value, kind):
        raise InvalidIndexError(location, where, f"{key!r} must be a {kind.__name__}, not {value!r}")
    return value


def _check(location: str, where: str, check: Any, value: Any, **kwargs: Any) -> Any:
    """Run a field check, re-raising its error as InvalidIndexError naming the index and entry."""
    try:
        return check(value, where=where, **kwargs)
    except InvalidManifestError as e:
        raise InvalidIndexError(location, where, e.problem) from e


def check_url(url: str, *, where: str, index: str = "") -> str:
    """``url`` if finehub may fetch it: file://, http:// or https://, and no file:// from a remote index."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in transfer.SCHEMES:
        raise InvalidManifestError(
            where, f"unsupported URL scheme {scheme!r} in {url!r}; use file://, http:// or https://"
        )
    if scheme == "file" and urllib.parse.urlparse(index).scheme in ("http", "https"):
        raise InvalidManifestError(
            where, f"{url!r} is a local file, but the index was fetched over the network"
        )
    return url


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
    location = to_url(url)
    data = fetch_bytes(location, what=f"the module index at {location}")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidIndexError(location, "the document", f"not valid JSON ({e})") from e
    return parse_index(document, location)


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
    """GET a URL within the index limits (size and overall deadline); an unreachable one raises OfflineError."""
    url = to_url(url)
    check_url(url, where=what)
    if not url.startswith("file:") and paths.offline():
        raise OfflineError(what, "offline mode is on (FINEHUB_OFFLINE=1)")
    limits = settings.transfer_limits("index")
    return b"".join(transfer.iter_url(url, limits=limits, what=what, read_timeout=TIMEOUT_S))
