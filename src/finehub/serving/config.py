"""Serving configuration: PaddleHub's ``serving.json`` shape plus finehub's limits.

A PaddleHub file works unchanged::

    {"modules_info": {"minilm-l6": {"init_args": {"version": "1.0.0"}, "predict_args": {"batch_size": 32}}},
     "port": 8866, "workers": 2, "timeout": 60}

finehub adds ``host``, ``max_batch_size``, ``max_batch_delay_ms``, ``max_request_bytes``,
``max_items_per_request``, ``max_text_chars`` (longest string in any argument) and
``max_image_pixels`` (largest image decoded, width × height). Every error names the offending field
(:class:`ServingConfigError`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finehub.errors import ServingConfigError

#: Environment variable carrying the JSON config to the app factory in each uvicorn worker.
CONFIG_ENV = "FINEHUB_SERVING_CONFIG"


class ModuleServingConfig(BaseModel):
    """How one module is built (``init_args``, ``version`` included) and called (``predict_args``)."""

    model_config = ConfigDict(extra="forbid")

    init_args: dict[str, Any] = Field(default_factory=dict)
    predict_args: dict[str, Any] = Field(default_factory=dict)

    @property
    def version(self) -> str | None:
        version = self.init_args.get("version")
        return str(version) if version is not None else None

    @property
    def build_args(self) -> dict[str, Any]:
        """``init_args`` without ``version``, which selects the module rather than configuring it."""
        return {k: v for k, v in self.init_args.items() if k != "version"}


class ServingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modules_info: dict[str, ModuleServingConfig] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8866
    workers: Annotated[
        int, Field(ge=1, le=64, description="uvicorn worker processes; each loads every module")
    ] = 1
    timeout: Annotated[float, Field(gt=0, description="seconds a request may take before a 504")] = 60.0
    max_batch_size: Annotated[
        int, Field(ge=1, description="items merged into one call; 1 turns batching off")
    ] = 32
    max_batch_delay_ms: Annotated[
        float, Field(ge=0, le=10_000, description="longest wait for a batch to fill")
    ] = 5.0
    max_request_bytes: Annotated[int, Field(ge=1024, description="larger bodies are answered 413")] = (
        16 * 1024 * 1024
    )
    max_items_per_request: Annotated[int, Field(ge=1, description="longer input lists are answered 413")] = (
        256
    )
    max_text_chars: Annotated[
        int,
        Field(
            ge=1,
            description="longer strings are answered 422; bounds the work one text can cost a shared batch",
        ),
    ] = 100_000
    max_image_pixels: Annotated[
        int, Field(ge=1, description="larger images (width × height) are refused before they are decoded")
    ] = 40_000_000
    use_multiprocess: bool = Field(default=False, description="PaddleHub's switch; finehub uses `workers`")
    use_gpu: bool = Field(default=False, description="PaddleHub's switch; pass a device in init_args instead")

    @classmethod
    def parse(cls, data: Any, *, where: str = "serving config") -> ServingConfig:
        """Validate ``data``; the error names the first bad field by its dotted path."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "<root>"
            raise ServingConfigError(field, f"{err['msg']} (in {where})") from e

    @classmethod
    def from_file(cls, path: str | Path) -> ServingConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ServingConfigError("-c", f"no such file: {str(path)!r}") from e
        except json.JSONDecodeError as e:
            raise ServingConfigError("<file>", f"{path} is not valid JSON: {e.msg} at line {e.lineno}") from e
        return cls.parse(data, where=str(path))

    @classmethod
    def from_env(cls) -> ServingConfig:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            raise ServingConfigError(CONFIG_ENV, "is not set; start the server with `finehub serve`")
        return cls.parse(json.loads(raw), where=f"${CONFIG_ENV}")

    def with_modules(self, specs: list[str]) -> ServingConfig:
        """Add ``NAME`` or ``NAME==VERSION`` entries (the CLI's ``-m``) over ``modules_info``."""
        modules = dict(self.modules_info)
        for spec in specs:
            name, version = parse_module_spec(spec)
            entry = modules.get(name, ModuleServingConfig())
            if version is not None:
                entry = entry.model_copy(update={"init_args": {**entry.init_args, "version": version}})
            modules[name] = entry
        return self.model_copy(update={"modules_info": modules})


def parse_module_spec(spec: str) -> tuple[str, str | None]:
    """``"name==1.0"`` -> ``("name", "1.0")``; ``"name"`` -> ``("name", None)``."""
    name, sep, version = spec.strip().partition("==")
    if not name or (sep and not version) or any(c in name for c in "<>=!~ "):
        raise ServingConfigError("-m", f"{spec!r} is not NAME or NAME==VERSION")
    return name, version or None
