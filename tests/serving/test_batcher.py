"""MicroBatcher on its own: grouping, ordering, the delay bound, error isolation, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from finehub.serving.batcher import MicroBatcher


class Recorder:
    """A batch function that doubles numbers, records its calls and notices concurrent runs."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[list[int], dict[str, Any]]] = []
        self.delay = delay
        self.overlapped = False
        self._lock = threading.Lock()

    def __call__(self, xs: list[int], scale: int = 2) -> list[int]:
        if not self._lock.acquire(blocking=False):
            self.overlapped = True
            self._lock.acquire()
        try:
            self.calls.append((list(xs), {"scale": scale}))
            time.sleep(self.delay)
            if any(x < 0 for x in xs):
                raise ValueError(f"negative input in {xs}")
            return [x * scale for x in xs]
        finally:
            self._lock.release()


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1) as ex:
        yield ex


def batcher(fn, executor, **kw) -> MicroBatcher:
    kw.setdefault("max_batch_size", 32)
    kw.setdefault("max_delay_s", 0.05)
    return MicroBatcher(fn, batch_arg="xs", executor=executor, **kw)


def test_concurrent_requests_become_one_call_in_order(executor) -> None:
    fn = Recorder()
    sizes: list[tuple[int, int]] = []
    b = batcher(fn, executor, on_batch=lambda r, n: sizes.append((r, n)))

    async def main():
        return await asyncio.gather(
            b.submit({"xs": [1, 2]}), b.submit({"xs": [3]}), b.submit({"xs": [4, 5, 6]})
        )

    assert run(main()) == [[2, 4], [6], [8, 10, 12]]
    assert [c[0] for c in fn.calls] == [[1, 2, 3, 4, 5, 6]]
    assert sizes == [(3, 6)]


def test_batches_never_exceed_max_batch_size(executor) -> None:
    fn = Recorder()
    b = batcher(fn, executor, max_batch_size=4)

    async def main():
        return await asyncio.gather(*(b.submit({"xs": [i]}) for i in range(10)))

    assert run(main()) == [[2 * i] for i in range(10)]
    assert [len(c[0]) for c in fn.calls] == [4, 4, 2]
    assert [x for c in fn.calls for x in c[0]] == list(range(10))  # first come, first served


def test_a_request_larger_than_the_batch_runs_alone(executor) -> None:
    fn = Recorder()
    b = batcher(fn, executor, max_batch_size=3)

    async def main():
        return await asyncio.gather(b.submit({"xs": [1, 2, 3, 4, 5]}), b.submit({"xs": [6]}))

    assert run(main()) == [[2, 4, 6, 8, 10], [12]]
    assert [c[0] for c in fn.calls] == [[1, 2, 3, 4, 5], [6]]


def test_different_other_arguments_are_not_merged(executor) -> None:
    fn = Recorder()
    b = batcher(fn, executor)

    async def main():
        return await asyncio.gather(
            b.submit({"xs": [1], "scale": 3}), b.submit({"xs": [2]}), b.submit({"xs": [3], "scale": 3})
        )

    assert run(main()) == [[3], [4], [9]]
    assert sorted((c[0], c[1]["scale"]) for c in fn.calls) == [([1, 3], 3), ([2], 2)]


def test_delay_bound(executor) -> None:
    b = batcher(Recorder(), executor, max_delay_s=0.2, max_batch_size=2)

    async def timed(*requests):
        t = time.perf_counter()
        await asyncio.gather(*(b.submit(r) for r in requests))
        return time.perf_counter() - t

    # a lone request waits for company, but no longer than the delay
    lone = run(timed({"xs": [1]}))
    assert 0.15 <= lone < 1.5
    # a full batch goes at once
    full = run(timed({"xs": [1]}, {"xs": [2]}))
    assert full < 0.15


def test_max_batch_size_one_turns_batching_off(executor) -> None:
    fn = Recorder()
    b = batcher(fn, executor, max_batch_size=1, max_delay_s=0.0)

    async def main():
        return await asyncio.gather(*(b.submit({"xs": [i]}) for i in range(5)))

    assert run(main()) == [[0], [2], [4], [6], [8]]
    assert len(fn.calls) == 5


def test_a_failing_request_fails_alone(executor) -> None:
    fn = Recorder()
    b = batcher(fn, executor)

    async def main():
        return await asyncio.gather(
            b.submit({"xs": [1]}), b.submit({"xs": [-1]}), b.submit({"xs": [2, 3]}), return_exceptions=True
        )

    ok1, bad, ok2 = run(main())
    assert ok1 == [2] and ok2 == [4, 6]
    assert isinstance(bad, ValueError) and "[-1]" in str(bad)
    # the merged call failed, then each request ran on its own
    assert [c[0] for c in fn.calls] == [[1, -1, 2, 3], [1], [-1], [2, 3]]


def test_wrong_length_output_falls_back_to_single_calls(executor) -> None:
    calls: list[list[int]] = []

    def first_only(xs: list[int]) -> list[int]:
        calls.append(xs)
        return xs[:1]

    b = MicroBatcher(first_only, batch_arg="xs", executor=executor, max_batch_size=8, max_delay_s=0.05)

    async def main():
        return await asyncio.gather(b.submit({"xs": [1]}), b.submit({"xs": [2]}))

    assert run(main()) == [[1], [2]]
    assert calls == [[1, 2], [1], [2]]


def test_one_thread_per_module_no_overlap(executor) -> None:
    fn = Recorder(delay=0.02)
    a = batcher(fn, executor, max_batch_size=2, max_delay_s=0.0)
    b = batcher(fn, executor, max_batch_size=2, max_delay_s=0.0)  # another method of the same module

    async def main():
        await asyncio.gather(*(x.submit({"xs": [i]}) for i in range(6) for x in (a, b)))

    run(main())
    assert not fn.overlapped


def test_cancelled_requests_are_dropped_before_running(executor) -> None:
    fn = Recorder(delay=0.3)
    b = batcher(fn, executor, max_batch_size=1, max_delay_s=0.0)

    async def main():
        first = asyncio.ensure_future(b.submit({"xs": [1]}))
        await asyncio.sleep(0.05)  # first is running now
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.submit({"xs": [2]}), 0.05)  # times out while queued
        third = await b.submit({"xs": [3]})
        return await first, third

    assert run(main()) == ([2], [6])
    assert [c[0] for c in fn.calls] == [[1], [3]]


def test_non_batched_method_is_called_per_request(executor) -> None:
    calls: list[dict[str, Any]] = []

    def count(texts: list[str]) -> int:
        calls.append({"texts": texts})
        return len(texts)

    b = MicroBatcher(count, batch_arg=None, executor=executor, max_batch_size=32, max_delay_s=0.01)

    async def main():
        return await asyncio.gather(b.submit({"texts": ["a"]}), b.submit({"texts": ["b", "c"]}))

    assert run(main()) == [1, 2]
    assert len(calls) == 2
