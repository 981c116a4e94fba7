"""The micro-batcher: concurrent submissions share model calls, order is kept, the queue is
bounded, and a model failure reaches every waiting request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from bakeoff.serve.batcher import MicroBatcher, QueueFull
from bakeoff.strategy import Prediction
from bakeoff.task.example import Example


def echo(calls: list[int]):  # type: ignore[no-untyped-def]
    def predict(examples: Sequence[Example]) -> list[Prediction]:
        calls.append(len(examples))
        return [Prediction(ex.id, ex.text.upper()) for ex in examples]

    return predict


def test_concurrent_requests_share_calls_and_keep_their_rows() -> None:
    calls: list[int] = []

    async def main() -> list[list[Prediction]]:
        batcher = MicroBatcher(echo(calls), max_batch=8, max_queue=100, wait_ms=20)
        batcher.start()
        jobs = [
            batcher.submit([Example(f"{i}-{j}", f"r{i}x{j}") for j in range(2)]) for i in range(10)
        ]
        out = await asyncio.gather(*jobs)
        await batcher.stop()
        return list(out)

    results = asyncio.run(main())
    for i, preds in enumerate(results):
        assert [p.output for p in preds] == [f"R{i}X0", f"R{i}X1"]
    assert sum(calls) == 20 and len(calls) < 10 and max(calls) <= 8


def test_full_queue_refuses_and_model_errors_propagate() -> None:
    def fail(examples: Sequence[Example]) -> list[Prediction]:
        raise RuntimeError("model exploded")

    async def main() -> None:
        batcher = MicroBatcher(fail, max_batch=4, max_queue=3, wait_ms=1)
        batcher.start()
        with pytest.raises(QueueFull):
            await batcher.submit([Example(str(i), "x") for i in range(4)])
        with pytest.raises(RuntimeError, match="exploded"):
            await batcher.submit([Example("a", "x")])
        assert batcher.queued_rows == 0
        await batcher.stop()

    asyncio.run(main())


def test_a_poison_request_fails_alone_and_every_other_request_is_answered() -> None:
    """A request that crashes the model (e.g. a lone surrogate reaching the tokenizer) used to
    fail its whole micro-batch; now only it gets the error."""
    calls: list[int] = []

    def predict(examples: Sequence[Example]) -> list[Prediction]:
        calls.append(len(examples))
        if any("poison" in ex.text for ex in examples):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return [Prediction(ex.id, ex.text.upper()) for ex in examples]

    async def main() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch=64, max_queue=200, wait_ms=50)
        batcher.start()
        jobs = [
            batcher.submit([Example(str(i), "poison" if i == 7 else f"good {i}")])
            for i in range(30)
        ]
        out = await asyncio.gather(*jobs, return_exceptions=True)
        assert batcher.queued_rows == 0
        await batcher.stop()
        return list(out)

    results = asyncio.run(main())
    assert isinstance(results[7], UnicodeEncodeError)
    for i, preds in enumerate(results):
        if i != 7:
            assert [p.output for p in preds] == [f"GOOD {i}"]
    assert max(calls) > 1  # they were batched together, then isolated
