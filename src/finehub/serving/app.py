"""The HTTP app: PaddleHub's ``/predict/<module>``, typed ``/v1/modules/<module>/<method>`` routes,
health/readiness, ``/modules``, ``/metrics`` and a try-it page at ``/``.

Modules given as objects serve at once; modules given as zero-argument loaders are built in a
background thread after startup, so ``/health`` answers while ``/ready`` says 503 until every
module is loaded (a module that failed to load stays 503 and its requests say why). Each module
gets one inference thread; each served method a :class:`MicroBatcher` on it, so the event loop
never runs a model and a model never runs twice at once.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from finehub.errors import FinehubError, ServingConfigError
from finehub.serving import schemas
from finehub.serving.batcher import MicroBatcher
from finehub.serving.config import ModuleServingConfig, ServingConfig
from finehub.serving.limits import MAX_DEPTH, BodyLimitMiddleware, check_arguments
from finehub.serving.metrics import ServingMetrics

if TYPE_CHECKING:
    from finehub.hub.module import ModuleBase

log = logging.getLogger(__name__)

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Envelope, "description": text}
    for code, text in {
        400: "body is not a JSON object, or nests too deeply (112)",
        404: "no such module (111)",
        413: "body or input list too large (114)",
        422: "invalid argument (113), or the module rejected the input (101)",
        500: "the module failed (101)",
        503: "module not loaded (116)",
        504: "timed out (115)",
    }.items()
}


_TOO_DEEP = f"the body nests too deeply to parse; arguments nest at most {MAX_DEPTH} levels"
# FastAPI's own errors (body unparsable, no such route, wrong HTTP method), in the envelope.
_HTTP_CODES = {400: schemas.BAD_BODY, 404: schemas.NOT_FOUND, 405: schemas.NOT_FOUND, 413: schemas.TOO_LARGE}


@dataclass
class _Method:
    schema: schemas.MethodSchema
    batcher: MicroBatcher
    predict_args: dict[str, Any]  # the config's predict_args this method accepts


@dataclass
class _Served:
    module: ModuleBase
    executor: ThreadPoolExecutor
    methods: dict[str, _Method]
    default: str | None

    def info(self) -> dict[str, Any]:
        info = self.module.info
        return {
            "version": info.version,
            "task": info.task,
            "summary": info.summary,
            "methods": [m.schema.info(default=name == self.default) for name, m in self.methods.items()],
        }


@dataclass
class _State:
    config: ServingConfig
    metrics: ServingMetrics
    served: dict[str, _Served] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    loaders: dict[str, Callable[[], ModuleBase]] = field(default_factory=dict)
    typed_paths: dict[str, tuple[str, str]] = field(default_factory=dict)

    def module_status(self, name: str) -> str:
        if name in self.served:
            return "ready"
        return "failed" if name in self.failed else "loading"


def create_app(
    modules: Mapping[str, ModuleBase | Callable[[], ModuleBase]], config: ServingConfig | None = None
) -> FastAPI:
    """The serving app for ``modules`` (served under these names); ``config.modules_info`` gives
    their ``predict_args``. Values may be module objects or loaders called at startup."""
    from finehub.hub.module import ModuleBase

    config = config or ServingConfig()
    state = _State(config=config, metrics=ServingMetrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(_load_all(app, state))
        try:
            yield
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            for served in state.served.values():
                for m in served.methods.values():
                    await m.batcher.close()
                served.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="finehub serving",
        version=_finehub_version(),
        description=(schemas.__doc__ or "").strip(),
        lifespan=lifespan,
    )
    app.state.finehub = state
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_request_bytes)
    _add_routes(app, state)
    for name, source in modules.items():
        if isinstance(source, ModuleBase):
            _register(app, state, name, source)
        else:
            state.loaders[name] = source
    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: reads the config from ``$FINEHUB_SERVING_CONFIG`` and loads
    every module in ``modules_info`` through :func:`finehub.Module`."""
    config = ServingConfig.from_env()
    return create_app({name: _loader(name, cfg) for name, cfg in config.modules_info.items()}, config)


def _loader(name: str, cfg: ModuleServingConfig) -> Callable[[], ModuleBase]:
    def load() -> ModuleBase:
        from finehub.hub.loader import Module

        return Module(name, version=cfg.version, **cfg.build_args)

    return load


async def _load_all(app: FastAPI, state: _State) -> None:
    for name in state.loaders:
        state.metrics.module_ready.labels(name).set(0)
    for name, load in list(state.loaders.items()):
        try:
            module = await asyncio.to_thread(load)
            _register(app, state, name, module)
        except Exception as e:
            log.exception("Module %r failed to load; it answers 503 until the server is restarted", name)
            state.failed[name] = f"{type(e).__name__}: {e}" if not isinstance(e, FinehubError) else str(e)


def _register(app: FastAPI, state: _State, name: str, module: ModuleBase) -> None:
    """Build batchers and typed routes for a loaded module."""
    cfg = state.config.modules_info.get(name, ModuleServingConfig())
    specs = type(module).serving_methods()
    if not specs:
        raise ServingConfigError(
            f"modules_info.{name}", f"module {module.info.name!r} has no @serving method"
        )
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"finehub-{name}")
    methods: dict[str, _Method] = {}
    used: set[str] = set()
    for method_name, spec in specs.items():
        fn = getattr(type(module), method_name)
        accepted = set(inspect.signature(fn).parameters)
        predict_args = {k: v for k, v in cfg.predict_args.items() if k in accepted}
        used |= set(predict_args)
        schema = schemas.build_method_schema(
            fn,
            module=name,
            method=method_name,
            batch_arg=spec.batch,
            predict_args=predict_args,
            max_items=state.config.max_items_per_request,
            descriptions=module.info.inputs,
            exclude=spec.exclude,
        )
        batcher = MicroBatcher(
            _jsonable_call(getattr(module, method_name), state.config.max_image_pixels),
            batch_arg=spec.batch,
            executor=executor,
            max_batch_size=state.config.max_batch_size,
            max_delay_s=state.config.max_batch_delay_ms / 1000,
            on_batch=_batch_observer(state.metrics, name, method_name),
        )
        methods[method_name] = _Method(schema, batcher, predict_args)
    unused = sorted(set(cfg.predict_args) - used)
    if unused:
        executor.shutdown(wait=False)
        raise ServingConfigError(
            f"modules_info.{name}.predict_args",
            f"{unused} are parameters of no served method of {module.info.name} ({sorted(specs)})",
        )
    default = _default_method(module, specs)
    state.served[name] = _Served(module, executor, methods, default)
    for method_name, m in methods.items():
        _add_typed_route(app, state, name, method_name, m.schema)
    app.openapi_schema = None  # regenerate with the new routes
    state.metrics.module_ready.labels(name).set(1)
    log.info("Serving module %r (%s) with methods %s", name, module.info.version, sorted(methods))


def _default_method(module: ModuleBase, specs: Mapping[str, Any]) -> str | None:
    """The runnable method if served, else the only served method; None when ambiguous."""
    try:
        runnable, _ = module.runnable_method()
    except FinehubError:
        runnable = None
    if runnable in specs:
        return runnable
    return next(iter(specs)) if len(specs) == 1 else None


def _jsonable_call(method: Callable[..., Any], max_pixels: int) -> Callable[..., Any]:
    """``method`` answering JSON, decoding images of at most ``max_pixels`` and never reading a path
    (on the inference thread)."""
    from finehub._utils.limits import max_image_pixels, no_file_paths

    def call(**kwargs: Any) -> Any:
        with max_image_pixels(max_pixels), no_file_paths():
            return schemas.to_jsonable(method(**kwargs))

    return call


def _batch_observer(metrics: ServingMetrics, module: str, method: str) -> Callable[[int, int], None]:
    def observe(requests: int, items: int) -> None:
        metrics.batch_requests.labels(module, method).observe(requests)
        metrics.batch_items.labels(module, method).observe(items)

    return observe


# --- answering --------------------------------------------------------------------------------


def _answer(
    state: _State,
    module: str,
    method: str,
    started: float,
    http: int,
    status: str,
    msg: str = "",
    results: Any = None,
) -> JSONResponse:
    metrics = state.metrics
    metrics.requests.labels(module, method, str(http)).inc()
    metrics.latency.labels(module, method).observe(time.perf_counter() - started)
    if status != schemas.OK:
        metrics.errors.labels(module, status).inc()
    return JSONResponse(schemas.envelope(status, msg, results), status_code=http)


def _validation_message(
    errors: list[Any], schema: schemas.MethodSchema | None = None
) -> tuple[int, str, str]:
    """(HTTP status, code, message naming the field) for pydantic errors of a request body.

    A value matching no member of a union (``str | list[str]``) yields one error per member, each
    located under a member tag; those are reported together under the field's name. A parameter
    the method excludes from HTTP (``schema.excluded``) is refused saying why."""
    located = [([p for p in e.get("loc", ()) if p != "body"], e) for e in errors]
    loc, first = located[0]
    kind = first.get("type", "")
    if kind == "json_invalid" or (
        not loc and kind in ("model_attributes_type", "dict_type", "missing", "model_type")
    ):
        return 400, schemas.BAD_BODY, "the body must be a JSON object of the method's arguments"
    too_long = next((e for loc_, e in located if e.get("type") == "too_long" and len(loc_) <= 2), None)
    if too_long is not None:
        limit = (too_long.get("ctx") or {}).get("max_length")
        return (
            413,
            schemas.TOO_LARGE,
            (
                f"{loc[0]}: more than max_items_per_request={limit} items; split the input over several requests"
            ),
        )
    if kind == "extra_forbidden":
        if schema is not None and loc[0] in schema.excluded:
            return 422, schemas.INVALID_ARGUMENT, schemas.not_over_http(str(loc[0]))
        return 422, schemas.INVALID_ARGUMENT, f"{loc[0]}: unknown argument"
    union = len(located) > 1 and all(len(l_) > 1 and l_[0] == loc[0] for l_, _ in located)
    if union:
        msgs = dict.fromkeys(_error_text(e) for _, e in located)
        return 422, schemas.INVALID_ARGUMENT, f"{loc[0]}: {' or '.join(msgs)}"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"
    return 422, schemas.INVALID_ARGUMENT, f"{where}: {_error_text(first)}"


def _error_text(error: Any) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ") if error.get("type") == "value_error" else msg


async def _infer(state: _State, name: str, method: str, body: BaseModel, started: float) -> JSONResponse:
    target = state.served[name].methods[method]
    given = {k: getattr(body, k) for k in body.model_fields_set}
    refused = check_arguments(given, max_text_chars=state.config.max_text_chars)
    if refused is not None:
        return _answer(state, name, method, started, *refused)
    kwargs = {**target.predict_args, **given}
    try:
        results = await asyncio.wait_for(target.batcher.submit(kwargs), state.config.timeout)
    except TimeoutError:
        return _answer(
            state,
            name,
            method,
            started,
            504,
            schemas.TIMEOUT,
            f"no answer within timeout={state.config.timeout:g}s; send fewer items or raise the server's timeout",
        )
    except ValueError as e:  # ModuleInputError included: the client's input
        return _answer(state, name, method, started, 422, schemas.MODULE_ERROR, str(e))
    except Exception as e:
        log.exception("Module %r method %r failed", name, method)
        return _answer(state, name, method, started, 500, schemas.MODULE_ERROR, f"{type(e).__name__}: {e}")
    return _answer(state, name, method, started, 200, schemas.OK, "", results)


def _not_served(state: _State, name: str, method: str, started: float) -> JSONResponse | None:
    """The 404/503 answer when ``name`` cannot take requests now, else None."""
    if name not in state.served and name not in state.loaders:
        known = ", ".join(sorted({*state.served, *state.loaders})) or "none"
        return _answer(
            state,
            "<unknown>",
            method,
            started,
            404,
            schemas.NOT_FOUND,
            f"module {name!r} is not served here; served modules: {known}",
        )
    if name in state.failed:
        problem = f"failed to load: {state.failed[name]}"
    elif name not in state.served:
        problem = "is still loading; retry when GET /ready answers 200"
    else:
        return None
    return _answer(state, name, method, started, 503, schemas.NOT_READY, f"module {name!r} {problem}")


def _add_typed_route(
    app: FastAPI, state: _State, name: str, method: str, schema: schemas.MethodSchema
) -> None:
    async def endpoint(body: BaseModel) -> JSONResponse:
        return await _infer(state, name, method, body, time.perf_counter())

    endpoint.__annotations__ = {"body": schema.request_model, "return": JSONResponse}  # the generated model

    app.add_api_route(
        schema.path,
        endpoint,
        methods=["POST"],
        response_model=schema.response_model,
        responses=_ERROR_RESPONSES,
        summary=f"{name}.{method}",
        description=schema.doc or None,
        tags=[name],
        operation_id=f"{name}__{method}".replace("-", "_"),
    )
    state.typed_paths[schema.path] = (name, method)


def _add_routes(app: FastAPI, state: _State) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        name, method = state.typed_paths.get(request.url.path, ("<unknown>", "-"))
        served = state.served.get(name)
        schema = served.methods[method].schema if served and method in served.methods else None
        http, code, msg = _validation_message(list(exc.errors()), schema)
        return _answer(state, name, method, time.perf_counter(), http, code, msg)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name, method = state.typed_paths.get(request.url.path, ("<unknown>", "-"))
        if exc.status_code == 400:  # FastAPI could not parse the body (too deep, or not JSON at all)
            msg = (
                "the body could not be parsed: it is not UTF-8 JSON, or it nests deeper than a parser "
                f"allows (arguments nest at most {MAX_DEPTH} levels); send a JSON object of the "
                "method's arguments"
            )
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "another method")
            msg = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        elif exc.status_code == 404:
            msg = (
                f"no route {request.url.path}; POST to /predict/<module> or to a path listed by GET /modules"
            )
        else:
            msg = str(exc.detail)
        response = _answer(
            state,
            name,
            method,
            time.perf_counter(),
            exc.status_code,
            _HTTP_CODES.get(exc.status_code, schemas.BAD_BODY),
            msg,
        )
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        """Last resort, so that even a bug answers in the envelope (the server still logs it)."""
        name, method = state.typed_paths.get(request.url.path, ("<unknown>", "-"))
        msg = f"internal error ({type(exc).__name__}); see the server log"
        return _answer(state, name, method, time.perf_counter(), 500, schemas.MODULE_ERROR, msg)

    @app.post(
        "/predict/{module}",
        summary="PaddleHub-compatible prediction",
        description=(
            "The body holds keyword arguments of the module's default method (its runnable one), merged "
            "over the server's predict_args. See GET /modules for each method's parameters."
        ),
        response_model=schemas.Envelope,
        responses=_ERROR_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
            }
        },
        tags=["PaddleHub"],
    )
    async def predict(module: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        refused = _not_served(state, module, "-", started)
        if refused is not None:
            return refused
        served = state.served[module]
        if served.default is None:
            return _answer(
                state,
                module,
                "-",
                started,
                404,
                schemas.NOT_FOUND,
                f"module {module!r} has several served methods and no default; "
                f"POST to /v1/modules/{module}/<method> with one of {sorted(served.methods)}",
            )
        method = served.default
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        except RecursionError:
            return _answer(state, module, method, started, 400, schemas.BAD_BODY, _TOO_DEEP)
        if not isinstance(body, dict):
            return _answer(
                state,
                module,
                method,
                started,
                400,
                schemas.BAD_BODY,
                "the body must be a JSON object of the method's arguments (Content-Type: application/json)",
            )
        schema = served.methods[method].schema
        try:
            validated = schema.request_model.model_validate(body)
        except ValidationError as e:
            http, code, msg = _validation_message(list(e.errors()), schema)
            return _answer(state, module, method, started, http, code, msg)
        return await _infer(state, module, method, validated, started)

    @app.get("/health", summary="Liveness: the process answers", tags=["server"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Readiness: 200 once every module is loaded, else 503",
        tags=["server"],
        responses={503: {"description": "a module is loading or failed to load"}},
    )
    async def ready() -> JSONResponse:
        names = list(dict.fromkeys([*state.served, *state.loaders]))
        modules = {n: state.module_status(n) for n in names}
        ok = all(s == "ready" for s in modules.values())
        return JSONResponse(
            {"ready": ok, "modules": modules, "errors": state.failed}, status_code=200 if ok else 503
        )

    @app.get("/modules", summary="Served modules, their methods and parameters", tags=["server"])
    async def list_modules() -> dict[str, Any]:
        out = []
        for n in dict.fromkeys([*state.served, *state.loaders]):
            entry: dict[str, Any] = {"name": n, "status": state.module_status(n)}
            if n in state.served:
                entry.update(state.served[n].info())
            if n in state.failed:
                entry["error"] = state.failed[n]
            out.append(entry)
        return {"modules": out}

    @app.get(
        "/metrics",
        summary="Prometheus metrics (summed over all workers)",
        tags=["server"],
        response_class=Response,
    )
    async def metrics(request: Request) -> Response:
        body, content_type = state.metrics.render(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def try_it() -> HTMLResponse:
        return HTMLResponse(_page())


def _page() -> str:
    return resources.files("finehub.serving").joinpath("static/index.html").read_text(encoding="utf-8")


def _finehub_version() -> str:
    import finehub

    return finehub.__version__
