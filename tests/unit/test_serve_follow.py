"""`bakeoff serve DIR` follows the folder's champion: a real server on loopback keeps answering
a stream of requests while `bakeoff update` runs and a challenger is promoted; the swap happens
between micro-batches (every request answered, each by one candidate), /info shows the new
candidate and data version, and POST /v1/reload swaps at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from bakeoff.experiment.store import RunStore
from tests.conftest import start_serve
from tests.unit.test_cli_run import invoke
from tests.unit.test_update_dry_run import experiment, new_rows  # noqa: F401 — the fixture


def promote_first_challenger(folder: Path) -> str:
    """The decision the update stored, turned into a promotion of its first challenger (when
    it kept the champion): which way the rule decides is tested in test_update_dry_run."""
    store = RunStore(folder / "bakeoff.sqlite")
    record = store.promotions()[-1]
    decision = record["decision"]
    if not decision["promoted"]:
        challenge = decision["challenges"][0]
        decision.update(promoted=challenge["challenger"], promoted_key=challenge["key"])
        store.put_promotion(record)
    store.close()
    return str(decision["promoted"])


def test_serve_follows_a_promotion_without_dropping_requests(
    experiment: Path,  # noqa: F811
) -> None:
    proc, url = start_serve(experiment, "--follow-seconds", "0.3", "--batch-wait-ms", "20")
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                reply = http.post(f"{url}/v1/predict", json={"inputs": ["great film", "dull"]})
                body = reply.json()
                answers.append((reply.status_code, body.get("candidate")))
                assert reply.status_code != 200 or len(body["predictions"]) == 2

    try:
        first = httpx.get(f"{url}/info").json()
        assert first["follow"]["every_seconds"] == 0.3 and first["follow"]["reloads"] == 0
        clients = [threading.Thread(target=client) for _ in range(3)]
        for thread in clients:
            thread.start()
        code, output = invoke("update", str(experiment), "--data", str(new_rows(experiment.parent)))
        assert code == 0, output
        promoted = promote_first_challenger(experiment)
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/info").json().get("data_version") != 2:
            assert time.monotonic() < deadline, "the promotion was not picked up"
            time.sleep(0.2)
        time.sleep(1)  # requests keep flowing after the swap
        stop.set()
        for thread in clients:
            thread.join()
        info = httpx.get(f"{url}/info").json()
        assert info["candidate"] == promoted and info["follow"]["reloads"] == 1
        assert info["follow"]["last_error"] is None
        assert answers and all(status == 200 for status, _ in answers)  # none dropped
        names = [name for _, name in answers]
        assert names[0] == first["candidate"] and names[-1] == promoted
        swap = names.index(promoted)
        assert all(name == promoted for name in names[swap:])  # no flapping back

        again = httpx.post(f"{url}/v1/reload").json()  # nothing new: no swap
        assert again == {"reloaded": False, "candidate": promoted, "run": info["run"]} | {
            "data_version": 2
        }
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)


def test_a_pinned_candidate_is_not_followed(experiment: Path) -> None:  # noqa: F811
    artifact = next((experiment / "runs").glob("*/artifact"))
    proc, url = start_serve(artifact)
    try:
        reply = httpx.post(f"{url}/v1/reload")
        assert reply.status_code == 409 and "pinned" in reply.json()["error"]
        assert "follow" not in httpx.get(f"{url}/info").json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
