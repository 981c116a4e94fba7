"""Micro-batching: concurrent requests are gathered into one `predict` call.

Requests wait at most `wait_ms` for company, a batch holds at most `max_batch` rows, and the
queue holds at most `max_queue` rows — beyond that `submit` raises QueueFull (HTTP 503), so
memory stays bounded under any load. One worker thread runs the model: batches never overlap.

One bad request never fails the others: when a batch of several requests fails, each request
is retried alone, so only the one that fails by itself hears the error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from bakeoff.task.example import Example

Answer = TypeVar("Answer")  # one row's answer: a Prediction, or what the server pairs it with
Item = tuple[list[Example], asyncio.Future[list[Any]]]


class QueueFull(Exception):
    pass


class MicroBatcher(Generic[Answer]):
    def __init__(
        self,
        predict: Callable[[Sequence[Example]], list[Answer]],
        max_batch: int = 32,
        max_queue: int = 256,
        wait_ms: float = 5,
    ):
        self.predict = predict
        self.max_batch, self.max_queue, self.wait = max_batch, max_queue, wait_ms / 1000
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.queued_rows = 0
        self.batches = 0
        self.rows = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bakeoff-model")
        self.worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def submit(self, examples: list[Example]) -> list[Answer]:
        if self.queued_rows + len(examples) > self.max_queue:
            raise QueueFull(f"{self.queued_rows} rows already queued (limit {self.max_queue})")
        future: asyncio.Future[list[Answer]] = asyncio.get_running_loop().create_future()
        self.queued_rows += len(examples)
        await self.queue.put((examples, future))
        return await future

    async def _gather(self) -> list[Item]:
        items = [await self.queue.get()]
        rows = len(items[0][0])
        deadline = time.monotonic() + self.wait
        while rows < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                item = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                break
            items.append(item)
            rows += len(item[0])
        return items

    async def _predict(self, examples: list[Example]) -> list[Answer]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.predict, examples)

    async def _answer(self, items: list[Item]) -> None:
        flat = [ex for examples, _ in items for ex in examples]
        try:
            preds = await self._predict(flat)
        except Exception as exc:
            if len(items) == 1:  # it fails alone: this request hears why
                if not items[0][1].done():
                    items[0][1].set_exception(exc)
                return
            for item in items:  # isolate the poison: each request on its own
                await self._answer([item])
            return
        start = 0
        for examples, future in items:
            if not future.done():
                future.set_result(preds[start : start + len(examples)])
            start += len(examples)

    async def _run(self) -> None:
        while True:
            items = await self._gather()
            rows = sum(len(examples) for examples, _ in items)
            try:
                await self._answer(items)
            finally:
                self.queued_rows -= rows
                self.batches += 1
                self.rows += rows
