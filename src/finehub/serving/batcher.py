"""Micro-batching: concurrent calls of one method become one call over their concatenated inputs.

A :class:`MicroBatcher` wraps one served method. :meth:`MicroBatcher.submit` queues a request's
keyword arguments and awaits its own slice of the result. A single consumer task forms batches:

* it takes the oldest pending request and waits until either ``max_batch_size`` items are pending
  for the same arguments or ``max_delay_s`` has passed since that request arrived;
* requests are merged only when every argument other than ``batch_arg`` is equal;
* a request larger than ``max_batch_size`` runs on its own, never split;
* the merged call runs on ``executor`` (give each module a one-thread executor so its model never
  runs concurrently) and the returned list, aligned with the merged input, is split back;
* if the merged call raises (or returns a list of the wrong length), each request is run on its
  own, so one bad request fails alone.

Requests cancelled while queued (a timed-out client) are dropped before their batch runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from finehub.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    kwargs: dict[str, Any]
    key: str
    size: int
    arrived: float
    future: asyncio.Future[Any] = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        batch_arg: str | None,
        executor: Executor,
        max_batch_size: int = 32,
        max_delay_s: float = 0.005,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_batch(requests, items)`` is told the size of every call made (metrics)."""
        if max_batch_size < 1:
            raise ConfigError("max_batch_size", f"must be >= 1, got {max_batch_size}")
        if max_delay_s < 0:
            raise ConfigError("max_delay_s", f"must be >= 0, got {max_delay_s}")
        self.fn = fn
        self.batch_arg = batch_arg
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.on_batch = on_batch
        self._pending: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._serial = 0

    async def submit(self, kwargs: dict[str, Any]) -> Any:
        """Run ``fn(**kwargs)`` (possibly merged with other requests) and return this request's result."""
        loop = asyncio.get_running_loop()
        if self._consumer is None or self._consumer.done():
            self._wakeup = asyncio.Event()
            self._consumer = loop.create_task(self._consume(), name="finehub-batcher")
        item = _Pending(kwargs, self._key(kwargs), self._size(kwargs), loop.time(), loop.create_future())
        self._pending.append(item)
        assert self._wakeup is not None
        self._wakeup.set()
        return await item.future

    async def close(self) -> None:
        """Stop the consumer; requests still queued are cancelled."""
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        while self._pending:
            self._pending.popleft().future.cancel()

    def _key(self, kwargs: dict[str, Any]) -> str:
        """Requests merge only when this key matches: all arguments but the batch one."""
        if (
            self.batch_arg is None
            or not isinstance(kwargs.get(self.batch_arg), list)
            or self.max_batch_size == 1
        ):
            self._serial += 1
            return f"#{self._serial}"
        rest = {k: v for k, v in kwargs.items() if k != self.batch_arg}
        return json.dumps(rest, sort_keys=True, default=repr)

    def _size(self, kwargs: dict[str, Any]) -> int:
        value = kwargs.get(self.batch_arg) if self.batch_arg else None
        return len(value) if isinstance(value, list) else 1

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            self._drop_cancelled()
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first = self._pending[0]
            deadline = first.arrived + self.max_delay_s
            while self._ready_items(first.key) < self.max_batch_size and loop.time() < deadline:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                except TimeoutError:
                    break
            group = self._take(first.key)
            if group:
                await self._run(group)

    def _drop_cancelled(self) -> None:
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()

    def _ready_items(self, key: str) -> int:
        return sum(p.size for p in self._pending if p.key == key and not p.future.done())

    def _take(self, key: str) -> list[_Pending]:
        """Oldest requests with ``key`` up to ``max_batch_size`` items (at least one request)."""
        group: list[_Pending] = []
        size = 0
        keep: deque[_Pending] = deque()
        for p in self._pending:
            if p.future.done():
                continue
            if p.key == key and (not group or size + p.size <= self.max_batch_size):
                group.append(p)
                size += p.size
            else:
                keep.append(p)
        self._pending = keep
        return group

    async def _run(self, group: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self.executor, self._call, [p.kwargs for p in group])
        except BaseException as e:  # executor shut down, or this task cancelled
            for p in group:
                if p.future.done():
                    continue
                if isinstance(e, Exception):
                    p.future.set_exception(e)
                else:
                    p.future.cancel()
            raise
        for p, (ok, value) in zip(group, outcomes, strict=True):
            if p.future.done():
                continue
            if ok:
                p.future.set_result(value)
            else:
                p.future.set_exception(value)

    def _call(self, requests: Sequence[dict[str, Any]]) -> list[tuple[bool, Any]]:
        """Runs on the executor thread: one merged call, or one call per request on failure."""
        if len(requests) > 1:
            assert self.batch_arg is not None
            sizes = [len(r[self.batch_arg]) for r in requests]
            merged = {**requests[0], self.batch_arg: [x for r in requests for x in r[self.batch_arg]]}
            self._report(len(requests), sum(sizes))
            try:
                out = self.fn(**merged)
                if not isinstance(out, list) or len(out) != sum(sizes):
                    raise TypeError(
                        f"batched call returned {type(out).__name__} of length "
                        f"{len(out) if hasattr(out, '__len__') else '?'}, expected a list of {sum(sizes)}"
                    )
            except Exception as e:
                log.info("Batched call of %d requests failed (%s); running them one by one", len(requests), e)
            else:
                bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
                return [(True, out[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
        outcomes: list[tuple[bool, Any]] = []
        for r in requests:
            self._report(1, self._size(r))
            try:
                outcomes.append((True, self.fn(**r)))
            except Exception as e:
                outcomes.append((False, e))
        return outcomes

    def _report(self, requests: int, items: int) -> None:
        if self.on_batch is not None:
            self.on_batch(requests, items)
