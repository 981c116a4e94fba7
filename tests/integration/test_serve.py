"""`bakeoff serve` on loopback: a real uvicorn process serving a fine-tuned encoder-head
artifact; request validation, auth, 503 on a full queue, and a bounded load test."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.conftest import start_serve

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
TOKEN = "s3cret-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task",
            str(REPO / "examples/sst2/task.yaml"),
            "--strategy",
            "encoder-head",
            "--train-size",
            "64",
            "--max-steps",
            "8",
            "--eval-every",
            "4",
            "--eval-rows",
            "16",
            "--limit-test",
            "20",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(folder: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_serve(folder, *args, env={"BAKEOFF_SERVE_TOKEN": TOKEN})


@pytest.fixture(scope="module")
def server(trained: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = start(trained, "--max-queue", "512", "--max-input-chars", "500")
    yield proc, url
    proc.terminate()
    proc.wait(timeout=30)


def test_predict_health_info_and_auth(server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, url = server
    body = {"inputs": ["a gorgeous, moving film", "dull and far too long"]}
    ok = httpx.post(f"{url}/v1/predict", json=body, headers=AUTH, timeout=30)
    assert ok.status_code == 200, ok.text
    preds = ok.json()["predictions"]
    assert len(preds) == 2 and all(p["output"] in {"positive", "negative"} for p in preds)
    assert abs(sum(preds[0]["probabilities"].values()) - 1) < 1e-4
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    info = httpx.get(f"{url}/info", headers=AUTH).json()
    assert info["candidate"].startswith("encoder-head") and "accuracy" in info["metrics"]
    assert info["task"]["labels"] == ["negative", "positive"]
    assert httpx.post(f"{url}/v1/predict", json=body).status_code == 401
    wrong = httpx.post(f"{url}/v1/predict", json=body, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401 and "bearer token" in wrong.json()["error"]
    assert TOKEN not in wrong.text
    # the token is checked before the body is read, and the docs are closed without it
    junk = httpx.post(f"{url}/v1/predict", content=b"{not json", timeout=30)
    assert junk.status_code == 401
    for path in ("/docs", "/openapi.json", "/info"):
        assert httpx.get(f"{url}{path}").status_code == 401, path


def test_a_poison_request_never_fails_the_good_ones(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    """A lone surrogate in one request, 30 good requests in flight beside it: every good one
    is answered 200, the bad one gets a 422 naming the input."""
    _, url = server
    poison = b'{"inputs": ["evil \\ud800"]}'  # valid JSON, not encodable text

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers=AUTH) as client:
            good = [
                client.post(f"{url}/v1/predict", json={"inputs": [f"a fine film {i}"]})
                for i in range(30)
            ]
            bad = client.post(
                f"{url}/v1/predict", content=poison, headers={"Content-Type": "application/json"}
            )
            return list(await asyncio.gather(bad, *good))

    bad, *good = asyncio.run(main())
    assert bad.status_code == 422 and "inputs[0].text: invalid character" in bad.json()["error"]
    assert [r.status_code for r in good] == [200] * 30


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"inputs": []}, 422, "inputs"),
        ({"texts": ["x"]}, 422, 'send {"inputs"'),
        ({"inputs": [{"text": None}]}, 422, "inputs[0].text: input is null"),
        (  # every problem is named, not just the first
            {"inputs": [{"text": None}, "fine", {"text": " "}]},
            422,
            "inputs[0].text: input is null; inputs[2].text: input is empty",
        ),
        ({"inputs": [{"other": "x"}]}, 422, "missing input field"),
        ({"inputs": ["x" * 600]}, 413, "the limit is 500"),
        ({"inputs": ["x"] * 65}, 413, "at most 64"),
    ],
)
def test_bad_requests_get_clear_4xx(
    server: tuple[subprocess.Popen[bytes], str],
    body: dict,
    status: int,
    message: str,  # type: ignore[type-arg]
) -> None:
    _, url = server
    response = httpx.post(f"{url}/v1/predict", json=body, headers=AUTH, timeout=30)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_load_many_concurrent_clients(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = server
    clients, per_client = 32, 12
    baseline = rss_mb(proc.pid)
    peak = [baseline]

    async def client(http: httpx.AsyncClient, i: int, latencies: list[float]) -> list[int]:
        codes = []
        for j in range(per_client):
            texts = [f"review {i}-{j}: {'great fun' if (i + j) % 2 else 'boring mess'}"] * (
                1 + j % 3
            )
            start = time.perf_counter()
            r = await http.post(f"{url}/v1/predict", json={"inputs": texts}, headers=AUTH)
            latencies.append(time.perf_counter() - start)
            codes.append(r.status_code)
            peak.append(rss_mb(proc.pid))
        return codes

    async def main() -> tuple[list[int], list[float], float]:
        latencies: list[float] = []
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            start = time.perf_counter()
            results = await asyncio.gather(*(client(http, i, latencies) for i in range(clients)))
            elapsed = time.perf_counter() - start
        return [c for codes in results for c in codes], latencies, elapsed

    codes, latencies, elapsed = asyncio.run(main())
    assert codes == [200] * (clients * per_client)  # no request failed
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    info = httpx.get(f"{url}/info", headers=AUTH).json()["served"]
    print(
        f"\nload: {len(codes)} requests from {clients} clients in {elapsed:.1f} s = "
        f"{len(codes) / elapsed:.0f} req/s; p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
        f"{info['rows']} rows in {info['batches']} model calls; RSS {baseline:.0f} → "
        f"{max(peak):.0f} MB"
    )
    assert info["batches"] < info["rows"]  # concurrent requests shared model calls
    assert max(peak) < baseline + 300  # bounded: the queue caps what is held


def test_full_queue_answers_503_and_recovers(trained: Path) -> None:
    proc, url = start(trained, "--max-queue", "4", "--max-batch", "2", "--batch-wait-ms", "50")
    try:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as http:
                calls = [
                    http.post(f"{url}/v1/predict", json={"inputs": ["fine film"] * 2}, headers=AUTH)
                    for _ in range(40)
                ]
                return list(await asyncio.gather(*calls))

        responses = asyncio.run(burst())
        codes = {r.status_code for r in responses}
        assert codes <= {200, 503} and 503 in codes and 200 in codes
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
        after = httpx.post(f"{url}/v1/predict", json={"inputs": ["ok"]}, headers=AUTH)
        assert after.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
