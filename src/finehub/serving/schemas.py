"""Wire formats: the PaddleHub answer envelope, and request/response models built from method signatures.

Every answer is ``{"status": CODE, "msg": TEXT, "results": ...}``. Codes (PaddleHub's first three):

====== ====== ==================================================================
code   HTTP   meaning
====== ====== ==================================================================
000    200    success
101    422/500 the module raised: 422 on bad input (ValueError), 500 otherwise
111    404    no such module (or no such method)
112    400    the body is not a JSON object
113    422    an argument is missing, unknown or of the wrong type
114    413    the body or an input list is larger than the server allows
115    504    the request took longer than the configured timeout
116    503    the module is not loaded (still loading, or loading failed)
====== ====== ==================================================================

Request models come from the method's signature: annotations become field types, defaults (and
``predict_args`` from the config) become field defaults, unknown fields are refused. A parameter
annotated with an image type (``finehub.imaging.images.ImageLike``, ``PIL.Image.Image``, a numpy array)
is a base64 string on the wire (a ``data:image/...;base64,`` prefix is accepted), decoded to bytes
before the module sees it, so a client can never make the server open a local file path.
A parameter's description is the module's ``info.inputs`` entry, else the ``Doc`` in its
``Annotated`` type. Parameters a method excludes from HTTP (file paths, output folders) are refused
by name, saying why.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, create_model
from typing_extensions import Doc

OK = "000"
MODULE_ERROR = "101"
NOT_FOUND = "111"
BAD_BODY = "112"
INVALID_ARGUMENT = "113"
TOO_LARGE = "114"
TIMEOUT = "115"
NOT_READY = "116"


class Envelope(BaseModel):
    """PaddleHub's answer shape, for successes and errors alike."""

    status: Annotated[
        str, Field(description="'000' on success, else an error code (see the API description)")
    ]
    msg: Annotated[str, Field(description="empty on success, else what went wrong and what to change")]
    results: Annotated[Any, Field(description="the method's output, aligned with its input list")] = None


def envelope(status: str = OK, msg: str = "", results: Any = None) -> dict[str, Any]:
    return {"status": status, "msg": msg, "results": results}


def _decode_base64_image(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a base64 string of an encoded image")
    text = value.partition(",")[2] if value.startswith("data:") else value
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("not valid base64 (send the image file's bytes, base64-encoded)") from e
    if not data:
        raise ValueError("empty image")
    return data


_IMAGE_DOC = "base64 of an encoded image (PNG, JPEG, ...); a data:image/...;base64, prefix is accepted"
Base64Image = Annotated[
    bytes,
    BeforeValidator(_decode_base64_image),
    Field(
        json_schema_extra={
            "type": "string",
            "format": "byte",
            "contentEncoding": "base64",
            "contentMediaType": "image/*",
        }
    ),
]


@dataclass(frozen=True)
class Parameter:
    """One argument of a served method, as the API exposes it."""

    name: str
    wire_type: Any
    required: bool
    default: Any
    image: bool
    is_list: bool
    description: str

    def info(self, method_batch: str | None) -> dict[str, Any]:
        schema = TypeAdapter(self.wire_type).json_schema()
        return {
            "name": self.name,
            "required": self.required,
            "default": None if self.required else _jsonable_default(self.default),
            "image": self.image,
            "list": self.is_list,
            "batch": self.name == method_batch,
            "schema": schema,
            "description": self.description,
        }


@dataclass(frozen=True)
class MethodSchema:
    """A served method's request and response models, and what ``/modules`` says about it."""

    module: str
    method: str
    batch_arg: str | None
    parameters: tuple[Parameter, ...]
    request_model: type[BaseModel]
    response_model: type[BaseModel]
    doc: str
    excluded: tuple[str, ...] = ()  # parameters of the method that HTTP clients may not set

    @property
    def path(self) -> str:
        return f"/v1/modules/{self.module}/{self.method}"

    def info(self, *, default: bool) -> dict[str, Any]:
        return {
            "name": self.method,
            "path": self.path,
            "default": default,
            "batch": self.batch_arg,
            "doc": self.doc,
            "parameters": [p.info(self.batch_arg) for p in self.parameters],
        }


def build_method_schema(
    fn: Callable[..., Any],
    *,
    module: str,
    method: str,
    batch_arg: str | None,
    predict_args: Mapping[str, Any],
    max_items: int,
    descriptions: Mapping[str, str] | None = None,
    exclude: tuple[str, ...] = (),
) -> MethodSchema:
    """Models for ``fn`` (an unbound method); ``predict_args`` become defaults, ``descriptions``
    (the module's ``info.inputs``) document the parameters, ``exclude`` are left out."""
    descriptions = descriptions or {}
    hints = _resolve_hints(fn)
    params: list[Parameter] = []
    fields: dict[str, Any] = {}
    signature = list(inspect.signature(fn).parameters.values())[1:]  # skip self
    for p in signature:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) or p.name in exclude:
            continue
        ann, doc = _split_doc(hints.get(p.name, Any))
        image = _mentions_image(ann) or (ann is Any and p.name in ("image", "images"))
        is_list = _is_list(ann) or (image and p.name == batch_arg)
        if image:
            wire: Any = Annotated[list[Base64Image], Field(max_length=max_items)] if is_list else Base64Image
        else:
            wire = _wire_type(ann, max_items)
        required = p.name not in predict_args and p.default is inspect.Parameter.empty
        default = predict_args.get(p.name, None if p.default is inspect.Parameter.empty else p.default)
        description = (
            descriptions.get(p.name)
            or doc
            or (_IMAGE_DOC + ("; a list of them" if is_list else "") if image else "")
        )
        field_info = (
            Field(description=description or None)
            if required
            else Field(default=default if _is_json(default) else None, description=description or None)
        )
        fields[p.name] = (wire, field_info)
        params.append(Parameter(p.name, wire, required, default, image, is_list, description))
    ident = re.sub(r"\W", "_", f"{module}__{method}")
    request = create_model(f"{ident}__Request", __config__=ConfigDict(extra="forbid"), **fields)
    response = create_model(
        f"{ident}__Response",
        __base__=Envelope,
        results=(
            Annotated[_wire_type(hints.get("return", Any)) | None, Field(description="the method's output")],
            None,
        ),
    )
    doc = inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0]
    excluded = tuple(p.name for p in signature if p.name in exclude)
    return MethodSchema(module, method, batch_arg, tuple(params), request, response, doc, excluded)


# Why a parameter a method excludes from HTTP cannot be set there, and what to do instead.
_NOT_OVER_HTTP = {
    "paths": "the server reads no file for its clients; send the images base64-encoded in 'images'",
    "output_dir": "the server writes no file for its clients; with visualization=true the drawn "
    "image comes back in the result",
    "data": "send the inputs in the method's list argument (see GET /modules)",
}


def not_over_http(name: str) -> str:
    """The message refusing an excluded parameter ``name`` in a request."""
    return f"{name}: not accepted over HTTP; " + _NOT_OVER_HTTP.get(
        name, "the server keeps this parameter's default (see GET /modules)"
    )


def _split_doc(ann: Any) -> tuple[Any, str]:
    """``(annotation without its Doc metadata, the Doc's text or "")``."""
    if typing.get_origin(ann) is not Annotated:
        return ann, ""
    docs = [m.documentation for m in ann.__metadata__ if isinstance(m, Doc)]
    rest = tuple(m for m in ann.__metadata__ if not isinstance(m, Doc))
    base = Annotated[(ann.__origin__, *rest)] if rest else ann.__origin__
    return base, " ".join(docs)


def _resolve_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Annotations as objects (``Annotated`` kept); one that cannot be resolved stays a string
    (image types often can't: they are imported only for type checking)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:
        pass
    globalns = getattr(inspect.unwrap(fn), "__globals__", {})
    return {name: _resolve_hint(ann, globalns) for name, ann in getattr(fn, "__annotations__", {}).items()}


def _resolve_hint(ann: Any, globalns: dict[str, Any]) -> Any:
    """One annotation resolved by :func:`typing.get_type_hints`, or ``ann`` as given when it fails."""
    holder = types.SimpleNamespace(__annotations__={"hint": ann})
    try:
        return typing.get_type_hints(holder, globalns=globalns, include_extras=True)["hint"]
    except Exception:
        return ann


def _text(ann: Any) -> str:
    return ann if isinstance(ann, str) else repr(ann)


def _mentions_image(ann: Any) -> bool:
    return bool(re.search(r"Image|ndarray", _text(ann)))


def _is_list(ann: Any) -> bool:
    """A list, or a union with a list in it (``str | Sequence[str]``)."""
    if isinstance(ann, str):
        return bool(re.search(r"(list|List|Sequence|tuple)\[", ann))
    if _is_union(ann):
        return any(_is_list(a) for a in typing.get_args(ann))
    return typing.get_origin(ann) in _SEQUENCES


_SEQUENCES = (list, tuple, collections.abc.Sequence)


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _wire_type(ann: Any, max_items: int | None = None) -> Any:
    """The annotation if pydantic can validate and describe it, else Any. Sequences become lists
    (of at most ``max_items`` items when given), also inside unions."""

    def convert(a: Any) -> Any:
        if _is_union(a):
            return typing.Union[tuple(convert(x) for x in typing.get_args(a))]  # noqa: UP007
        if typing.get_origin(a) in _SEQUENCES:
            args = typing.get_args(a)
            item = args[0] if args and (len(args) == 1 or args[-1] is Ellipsis) else Any
            out = list[item]
            return Annotated[out, Field(max_length=max_items)] if max_items is not None else out
        return a

    if isinstance(ann, str):
        return Any
    try:
        wire = convert(ann)
        TypeAdapter(wire).json_schema()
    except Exception:
        return Any
    return wire


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _jsonable_default(value: Any) -> Any:
    return value if _is_json(value) else repr(value)


def to_jsonable(value: Any) -> Any:
    """Module output as plain JSON: numpy/torch arrays and scalars become lists and numbers,
    tuples become lists, non-finite floats become null."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        kind = getattr(getattr(value, "dtype", None), "kind", "")
        if kind in ("i", "u", "b") or (kind == "f" and _all_finite(value)):
            return value.tolist()  # already plain numbers: skip the walk
        return to_jsonable(value.tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    raise TypeError(f"the module returned a {type(value).__name__}, which cannot be sent as JSON")


def _all_finite(array: Any) -> bool:
    import numpy as np

    try:
        return bool(np.isfinite(array).all())
    except TypeError:  # not a numpy array (a torch tensor): walk it
        return False
