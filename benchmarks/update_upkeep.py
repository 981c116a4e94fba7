"""What keeping each strategy current costs: one real update, measured.

    .venv/bin/python benchmarks/update_upkeep.py            # ~30 min on 2 CPU cores

An AG News experiment over three topics whose v1 is mostly World and Sports (few-shot knn×4
and LoRA, default schedule, all v1 rows) gets a v2 that is mostly Business. `bakeoff update`
then measures the drift, re-checks the champion, re-adapts the champion and the next best
(LoRA retrains; few-shot re-selects its demos from the grown rows), and decides by the
promotion rule. The JSON holds each challenger's adaptation seconds (the upkeep cost), its
gain on the new rows and on the old, and the decision — in `benchmarks/results/update_upkeep.json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]
AG_NEWS = REPO.parent / "shared/datasets/ag_news/train.jsonl"
OUT = REPO / "runs" / "update-upkeep"


def take(
    rows: list[dict[str, str]], counts: dict[str, int], used: set[str]
) -> list[dict[str, str]]:
    out = []
    for label, n in counts.items():
        fresh = [r for r in rows if r["label"] == label and r["text"] not in used][:n]
        used.update(r["text"] for r in fresh)
        out += fresh
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pool = [json.loads(line) for line in AG_NEWS.read_text(encoding="utf-8").splitlines()]
    used: set[str] = set()
    v1 = take(pool, {"World": 120, "Sports": 120, "Business": 40}, used)
    v2 = take(pool, {"World": 20, "Sports": 20, "Business": 160}, used)
    for name, rows in (("data.jsonl", v1), ("new.jsonl", v2)):
        (OUT / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (OUT / "task.yaml").write_text(
        "name: news3\nkind: classification\ndescription: Topic of a news article.\n"
        "data: {file: data.jsonl}\nfields: {input: text, label: label}\n"
        "labels: [World, Sports, Business]\n"
        "prompt: {input_prefix: Article, output_prefix: Topic}\n",
        encoding="utf-8",
    )
    (OUT / "experiment.yaml").write_text(
        "name: news3-upkeep\ntask: task.yaml\n"
        "strategies: [{name: few-shot, demos: knn, shots: 4}, lora]\ntrain_sizes: [all]\n",
        encoding="utf-8",
    )
    bakeoff = str(Path(sys.executable).parent / "bakeoff")
    folder = OUT / "out"
    started = time.perf_counter()
    subprocess.run(
        [bakeoff, "run", str(OUT / "experiment.yaml"), "--out", str(folder), "-q"], check=True
    )
    experiment_seconds = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run(
        [bakeoff, "update", str(folder), "--data", str(OUT / "new.jsonl"), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    update = json.loads(done.stdout.strip().splitlines()[-1])
    result = {
        "machine": machine_summary(),
        "experiment_seconds": experiment_seconds,
        "update_seconds": time.perf_counter() - started,
        "drift": {k: update["drift"][k] for k in ("verdict", "reasons", "label_shares")},
        "champion": update["champion"],
        "challengers": [
            {
                **c,
                **{k: d[k] for k in ("new_difference", "new_ci", "p", "old_difference", "passes")},
            }
            for c, d in zip(update["challengers"], update["decision"]["challenges"], strict=True)
        ],
        "decision": update["decision"]["reasons"],
        "skipped": update["skipped"],
    }
    path = REPO / "benchmarks/results/update_upkeep.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
