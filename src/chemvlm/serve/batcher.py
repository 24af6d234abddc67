"""Request batching: concurrent requests wait in one bounded queue and reach the engine together.

One worker takes the oldest job and every waiting job with the same key (jobs batch only when their
generation options match), up to `batch_size`; from idle it waits up to `max_wait` for the batch to
fill, and while the engine is busy new requests pile up, so N concurrent requests need at most
ceil(N / batch_size) engine calls. A job with `alone=True` (token streaming) runs by itself.
A full queue refuses at once (QueueFull, with a Retry-After estimate) rather than growing without end.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the request queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Closed(Exception):
    """The server is shutting down."""


@dataclass
class Job:
    key: Hashable
    payload: Any
    future: asyncio.Future
    alone: bool = False


@dataclass
class Stats:
    engine_calls: int = 0
    batched_requests: int = 0  # requests answered by those calls
    largest_batch: int = 0
    rejected: int = 0  # refused with 429
    seconds_per_call: float = 0.0  # moving average, for Retry-After

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class Batcher:
    def __init__(self, handler: Callable[[Hashable, list], list], batch_size: int, max_wait: float, queue_size: int):
        self.handler = handler  # (key, payloads) -> results in order; runs in a worker thread
        self.batch_size = max(1, batch_size)
        self.max_wait = max_wait
        self.queue_size = queue_size
        self.pending: deque[Job] = deque()
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
        for job in self.pending:
            if not job.future.done():
                job.future.set_exception(Closed("the server is shutting down"))
        self.pending.clear()
        self._thread.shutdown(wait=False, cancel_futures=True)

    # ---- submitting ---------------------------------------------------------------------------------
    def submit(self, payload, key: Hashable = None, alone: bool = False) -> asyncio.Future:
        """Queue a job; refuses at once when the queue is full. Await the returned future for the result."""
        if self._closed or self._worker is None:
            raise Closed("the server is not accepting requests")
        if len(self.pending) >= self.queue_size:
            self.stats.rejected += 1
            raise QueueFull(self.retry_after())
        job = Job(key, payload, asyncio.get_running_loop().create_future(), alone)
        self.pending.append(job)
        self._changed.set()
        return job.future

    def retry_after(self) -> int:
        """Seconds until the queue has room again, at the recent pace (at least 1)."""
        calls_ahead = math.ceil(len(self.pending) / self.batch_size) + 1
        return max(1, math.ceil(calls_ahead * self.stats.seconds_per_call))

    # ---- the worker ---------------------------------------------------------------------------------
    def _matching(self, first: Job) -> list[Job]:
        if first.alone:
            return [first]
        same = [j for j in self.pending if not j.alone and j.key == first.key]
        return same[: self.batch_size]

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
            while not first.alone and len(self._matching(first)) < self.batch_size:
                left = deadline - time.monotonic()
                if left <= 0 or not await self._wait_change(left):
                    break
            batch = self._matching(first)
            for job in batch:
                self.pending.remove(job)
            batch = [job for job in batch if not job.future.done()]  # a client that gave up
            if batch:
                await self._run(first.key, batch)

    async def _run(self, key, batch: list[Job]) -> None:
        began = time.monotonic()
        self.running.set()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._thread, self.handler, key, [job.payload for job in batch])
        except Exception as err:  # the engine failed as a whole: every request of the batch hears why
            results = [err] * len(batch)
        finally:
            self.running.clear()
        seconds = time.monotonic() - began
        stats = self.stats
        stats.engine_calls += 1
        stats.batched_requests += len(batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))
        stats.seconds_per_call = seconds if stats.engine_calls == 1 else 0.8 * stats.seconds_per_call + 0.2 * seconds
        for job, result in zip(batch, results):
            if job.future.done():
                continue
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
