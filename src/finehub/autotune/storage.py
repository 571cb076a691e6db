"""Where a study lives, and the lock that lets many workers open rounds one at a time.

========================  ===============================================================
``storage``               what it is
========================  ===============================================================
None (default)            ``OUTPUT_DIR/study.journal``: Optuna's JournalStorage on a file;
                          any number of processes on one machine share it, no server and
                          no "database is locked".
a file path               a journal file at that path (shared file systems work too).
``sqlite:///PATH``        SQLite through SQLAlchemy (waits up to 60 s for the write lock).
``postgresql://...``      PostgreSQL (psycopg2): many workers on many machines. Start the
                          same command with the same ``--study`` on each machine.
``mysql+pymysql://...``   MySQL / MariaDB, likewise.
========================  ===============================================================

Workers hold the study lock only while they read the study, recover interrupted trials and
claim a slot: a file lock beside a journal or SQLite file, ``pg_advisory_lock`` on PostgreSQL,
``GET_LOCK`` on MySQL. All of them are released by the operating system or the database
server when the holder dies, so ``kill -9`` never leaves a study locked.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finehub._utils.fs import file_lock
from finehub._utils.lazy import require
from finehub.errors import ConfigError, MissingDependencyError, StudyError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

log = logging.getLogger(__name__)

JOURNAL_NAME = "study.journal"
_LOCK_SUFFIX = ".finehub.lock"
_CONNECT_ATTEMPTS = 5


@dataclass
class StudyStorage:
    """An opened Optuna storage plus the study lock that goes with it."""

    url: str  # what optuna-dashboard takes; passwords masked
    storage: BaseStorage
    _lock_file: Path | None = None
    _lock_sql: tuple[str, str] | None = None  # (acquire, release) statements taking :key

    @contextlib.contextmanager
    def lock(self, study_name: str) -> Iterator[None]:
        if self._lock_file is not None:
            with file_lock(self._lock_file, timeout=-1):
                yield
            return
        assert self._lock_sql is not None
        from sqlalchemy import text

        acquire, release = self._lock_sql
        key = _lock_key(study_name)
        with self.storage.engine.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(acquire), {"key": key})
            try:
                yield
            finally:
                conn.execute(text(release), {"key": key})


def default_journal(output_dir: str | Path) -> Path:
    return Path(output_dir) / JOURNAL_NAME


def open_storage(spec: str | None, output_dir: str | Path) -> StudyStorage:
    """Open (creating if needed) the storage ``spec`` names; see the module docstring."""
    if spec is None or "://" not in spec:
        return _open_journal(Path(spec) if spec else default_journal(output_dir))
    return _open_rdb(spec)


def _open_journal(path: Path) -> StudyStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    return StudyStorage(url=str(path), storage=storage, _lock_file=path.with_name(path.name + _LOCK_SUFFIX))


def _open_rdb(url: str) -> StudyStorage:
    sqlalchemy = require("sqlalchemy", extra="autotune", feature="A database study storage")
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as e:
        raise ConfigError("storage", f"{url!r} is not a database URL ({e})") from e
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    lock_file: Path | None = None
    lock_sql: tuple[str, str] | None = None
    engine_kwargs: dict = {"pool_pre_ping": True}
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(
                "storage", "an in-memory SQLite database cannot be shared by workers; use sqlite:///PATH"
            )
        db = Path(parsed.database).resolve()
        lock_file = db.with_name(db.name + _LOCK_SUFFIX)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif backend == "postgresql":
        if "+" not in parsed.drivername:  # SQLAlchemy 2.1 means psycopg 3 by default; take what is installed
            parsed = parsed.set(drivername=f"postgresql+{_postgres_driver()}")
            url = parsed.render_as_string(hide_password=False)
        lock_sql = ("SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)")
    elif backend in ("mysql", "mariadb"):
        lock_sql = ("SELECT GET_LOCK(CAST(:key AS CHAR), -1)", "SELECT RELEASE_LOCK(CAST(:key AS CHAR))")
    else:
        raise ConfigError(
            "storage",
            f"{backend} is not supported for studies; use a journal file, sqlite:///, postgresql:// or mysql:// URL",
        )
    return StudyStorage(
        url=shown, storage=_connect(url, shown, engine_kwargs), _lock_file=lock_file, _lock_sql=lock_sql
    )


def _postgres_driver() -> str:
    import importlib.util

    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return module
    raise MissingDependencyError("psycopg2-binary", "autotune", "A PostgreSQL study storage")


def _connect(url: str, shown: str, engine_kwargs: dict) -> BaseStorage:
    """RDBStorage, retried: workers starting together race to create the schema."""
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    error: SQLAlchemyError | None = None
    for attempt in range(1, _CONNECT_ATTEMPTS + 1):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        except ImportError as e:  # optuna's wording hides which driver is missing
            driver = url.split("://")[0].partition("+")[2] or url.split("://")[0]
            raise MissingDependencyError(driver, "autotune", f"The storage {shown}") from e
        except SQLAlchemyError as e:
            error = e
            if attempt < _CONNECT_ATTEMPTS:
                log.info("storage %s not ready (%s); retrying", shown, type(e).__name__)
                time.sleep(0.5 * attempt)
    raise StudyError(
        shown,
        f"cannot open the storage ({type(error).__name__}: {str(error).splitlines()[0]}); "
        "check that the server runs and that the URL, user and password are right",
    ) from error


def _lock_key(study_name: str) -> int:
    """A signed 64-bit key per study name (pg_advisory_lock takes a bigint)."""
    return int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
