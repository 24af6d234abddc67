"""Request batching: concurrent requests wait in one bounded queue and reach the engine together.

One worker takes the oldest job and every waiting job with the same key (jobs batch only when their
generation options match), up to `batch_size`; from idle it waits up to `max_wait` for the batch to
fill, and while the engine is busy new requests pile up, so N concurrent requests need at most
ceil(N / batch_size) engine calls. A batch also ends where its jobs' weight (the server: their pixels,
decoded in the batch) would pass `max_weight`; its first job always goes. A job with `alone=True` (token
streaming) runs by itself.

Admission is by the expected wait: the recent engine seconds per item (the median of the last calls, so
that one slow cold call does not set the pace) times the items ahead, queued and in the engine, less the
time the running call has already taken. A request that would wait longer than its deadline, or finds
the queue full, is refused at once (Busy, with a Retry-After estimate); one still queued at its deadline
is refused then. A job whose future is cancelled (its client left) leaves the queue at once, so the engine
never computes it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable


class Busy(Exception):
    """Refused for load (HTTP 429): the queue is full, the expected wait is over the deadline, or the
    deadline passed while the request waited."""

    def __init__(self, reason: str, retry_after: int):
        super().__init__(f"{reason}; retry after {retry_after} s")
        self.retry_after = retry_after


class Closed(Exception):
    """The server is shutting down."""


@dataclass(eq=False)  # identity: `job in pending` must not compare payloads (images)
class Job:
    key: Hashable
    payload: Any
    future: asyncio.Future
    alone: bool = False
    timer: asyncio.TimerHandle | None = None  # refuses the job at its deadline if it is still queued


@dataclass
class Stats:
    engine_calls: int = 0
    batched_requests: int = 0  # items handed to the engine (computed)
    answered: int = 0  # results (answers or per-item errors) that reached a waiting request
    abandoned: int = 0  # computed, but the client had left meanwhile
    withdrawn: int = 0  # the client left while queued: never computed
    expired: int = 0  # still queued at the deadline: 429, never computed
    rejected: int = 0  # refused with 429 on arrival
    largest_batch: int = 0
    seconds_per_item: float = 0.0  # engine call time / items in the call: median of the recent calls

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class Batcher:
    def __init__(self, handler: Callable[[Hashable, list], list], batch_size: int, max_wait: float, queue_size: int,
                 timeout: float | None = None, weigh: Callable[[Any], float] = lambda _: 0,
                 max_weight: float = math.inf):
        self.handler = handler  # (key, payloads) -> results (or exceptions) in order; runs in a worker thread
        self.batch_size = max(1, batch_size)
        self.weigh, self.max_weight = weigh, max_weight
        self.max_wait = max_wait
        self.queue_size = queue_size
        self.timeout = timeout  # the longest a request may wait for the engine; None: no deadline
        self.pending: deque[Job] = deque()
        self.in_engine = 0  # items of the call now running
        self._call_began = 0.0
        self._paces: deque[float] = deque(maxlen=5)  # seconds per item of the last calls
        self.stats = Stats()
        self.running = threading.Event()  # set while the handler runs (tests and /health read it)
        self._changed: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False
        # Always the same thread calls the engine: torch keeps one OpenMP team per calling thread, and
        # teams of several threads compete for the cores (batches ran several times slower).
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="engine")

    # ---- lifecycle (inside the server's event loop) -------------------------------------------------
    def start(self) -> None:
        self._changed = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        self._closed = True
        if self._worker:
            self._worker.cancel()
        for job in list(self.pending):
            if not job.future.done():
                job.future.set_exception(Closed("the server is shutting down"))
        self.pending.clear()
        self._thread.shutdown(wait=False, cancel_futures=True)

    # ---- submitting ---------------------------------------------------------------------------------
    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for its engine call, at the recent pace."""
        ahead = self.stats.seconds_per_item * (len(self.pending) + self.in_engine)
        return max(0.0, ahead - (time.monotonic() - self._call_began if self.in_engine else 0.0))

    def submit(self, payload, key: Hashable = None, alone: bool = False) -> asyncio.Future:
        """Queue a job, or refuse it at once (Busy). Await the returned future for the result; cancel it
        to withdraw the job (a job not yet in the engine is then never computed)."""
        if self._closed or self._worker is None:
            raise Closed("the server is not accepting requests")
        pace, wait = self.stats.seconds_per_item, self.expected_wait()
        if len(self.pending) >= self.queue_size:
            self.stats.rejected += 1
            raise Busy("the request queue is full", _seconds(pace * (len(self.pending) - self.queue_size + 1)))
        if self.timeout is not None and wait > self.timeout:
            self.stats.rejected += 1
            raise Busy(f"the expected wait ({wait:.0f} s) is over the limit of {self.timeout:g} s",
                       _seconds(wait - self.timeout))
        loop = asyncio.get_running_loop()
        job = Job(key, payload, loop.create_future(), alone)
        if self.timeout is not None:
            job.timer = loop.call_later(self.timeout, self._expire, job)
        job.future.add_done_callback(lambda _: self._forget(job))
        self.pending.append(job)
        self._changed.set()
        return job.future

    def _expire(self, job: Job) -> None:
        if job in self.pending:  # not in the engine yet
            self.stats.expired += 1
            job.future.set_exception(Busy(f"waited {self.timeout:g} s without reaching the engine",
                                          _seconds(self.expected_wait())))

    def _forget(self, job: Job) -> None:
        """A finished, expired or cancelled job: no timer, and out of the queue if it is still there."""
        if job.timer:
            job.timer.cancel()
        if job in self.pending:
            self.pending.remove(job)
            self.stats.withdrawn += job.future.cancelled()
            self._changed.set()

    # ---- the worker ---------------------------------------------------------------------------------
    def _matching(self, first: Job) -> list[Job]:
        if first.alone:
            return [first]
        batch, weight = [], 0.0
        for job in self.pending:
            if job.alone or job.key != first.key:
                continue
            weight += self.weigh(job.payload)
            if len(batch) == self.batch_size or (batch and weight > self.max_weight):
                break
            batch.append(job)
        return batch

    def _can_grow(self, first: Job) -> bool:
        batch = self._matching(first)
        return len(batch) < self.batch_size and sum(self.weigh(job.payload) for job in batch) < self.max_weight

    async def _wait_change(self, timeout: float) -> bool:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _work(self) -> None:
        while True:
            while not self.pending:
                await self._wait_change(3600)
            first = self.pending[0]
            deadline = time.monotonic() + self.max_wait
            while first in self.pending and not first.alone and self._can_grow(first):
                left = deadline - time.monotonic()
                if left <= 0 or not await self._wait_change(left):
                    break
            if first not in self.pending:  # withdrawn or expired while the batch filled
                continue
            batch = self._matching(first)
            for job in batch:
                self.pending.remove(job)
            batch = [job for job in batch if not job.future.done()]  # never start work nobody waits for
            if batch:
                await self._run(first.key, batch)

    async def _run(self, key, batch: list[Job]) -> None:
        began = self._call_began = time.monotonic()
        self.running.set()
        self.in_engine = len(batch)
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._thread, self.handler, key, [job.payload for job in batch])
        except Exception as err:  # the engine failed as a whole: every request of the batch hears why
            results = [err] * len(batch)
        finally:
            self.running.clear()
            self.in_engine = 0
        self._paces.append((time.monotonic() - began) / len(batch))
        stats = self.stats
        stats.engine_calls += 1
        stats.batched_requests += len(batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))
        stats.seconds_per_item = statistics.median(self._paces)
        for job, result in zip(batch, results):
            if job.future.done():  # the client left while its item was computed
                stats.abandoned += 1
                continue
            stats.answered += 1
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)


def _seconds(estimate: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(estimate))
