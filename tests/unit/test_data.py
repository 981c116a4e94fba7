"""Task loading, splitting and sub-sampling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bakeoff.errors import ProblemsError
from bakeoff.task.data import load_splits
from bakeoff.task.example import Example
from bakeoff.task.spec import load_task
from bakeoff.task.split import quotas, stratified_sample, stratified_split
from tests.conftest import write_jsonl, write_task


def rows(n: int, labels: tuple[str, ...] = ("a", "b", "c")) -> list[dict[str, str]]:
    return [{"text": f"row number {i}", "label": labels[i % len(labels)]} for i in range(n)]


def test_quotas_largest_remainder() -> None:
    assert quotas({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert sum(quotas({"a": 7, "b": 7, "c": 7}, 10).values()) == 10
    assert quotas({"a": 3, "b": 1}, 100) == {"a": 3, "b": 1}


def test_stratified_sample_keeps_class_mix_and_is_seeded() -> None:
    examples = [Example(str(i), f"t{i}", "a" if i < 80 else "b") for i in range(100)]
    sample = stratified_sample(examples, 10, seed=3)
    assert Counter(e.label for e in sample) == {"a": 8, "b": 2}
    assert sample == stratified_sample(examples, 10, seed=3)
    assert sample != stratified_sample(examples, 10, seed=4)


def test_split_keeps_same_input_on_one_side() -> None:
    examples = [
        Example(f"{i}-{j}", f"input {i}", None, (f"out {j}",)) for i in range(20) for j in range(3)
    ]
    rest, held = stratified_split(examples, 0.25, seed=0)
    assert {e.text for e in rest}.isdisjoint({e.text for e in held})
    assert len(held) == 15


def test_one_file_is_split_three_ways(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "all.jsonl", rows(300))
    task = load_task(
        write_task(
            tmp_path,
            "name: t\nkind: classification\ndata: {file: all.jsonl}\n"
            "fields: {input: text, label: label}\nlabels: [a, b, c]\n"
            "split: {validation: 0.1, test: 0.2, seed: 1}\n",
        )
    )
    splits = load_splits(task)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (210, 30, 60)
    ids = [e.id for e in splits.train + splits.validation + splits.test]
    assert len(set(ids)) == 300
    capped = load_splits(task, train_size=30, limit_test=12)
    assert Counter(e.label for e in capped.train) == {"a": 10, "b": 10, "c": 10}
    assert len(capped.test) == 12


def test_csv_and_input_template(tmp_path: Path) -> None:
    lines = ["title,body,label"] + [f't{i},"body, {i}",{"a" if i % 2 else "b"}' for i in range(40)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    task = load_task(
        write_task(
            tmp_path,
            "name: t\nkind: classification\ndata: {file: d.csv}\n"
            "fields: {input_template: '{{ title }} — {{ body }}', label: label}\nlabels: [a, b]\n",
        )
    )
    splits = load_splits(task)
    example = next(e for e in splits.train + splits.test if e.id.endswith("d.csv:2"))
    assert example.text == "t0 — body, 0"


def test_parquet_through_datasets(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(rows(60, ("a", "b"))).to_parquet(str(tmp_path / "d.parquet"))
    task = load_task(
        write_task(
            tmp_path,
            "name: t\nkind: classification\ndata: {file: d.parquet}\n"
            "fields: {input: text, label: label}\nlabels: [a, b]\n",
        )
    )
    assert len(load_splits(task).test) == 12


def test_hf_dataset_folder_with_class_labels(tmp_path: Path) -> None:
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    make = lambda n, off: Dataset.from_dict(  # noqa: E731
        {"sentence": [f"s {off + i}" for i in range(n)], "label": [i % 2 for i in range(n)]},
        features=features,
    )
    DatasetDict({"train": make(40, 0), "test": make(10, 100)}).save_to_disk(str(tmp_path / "ds"))
    task = load_task(
        write_task(
            tmp_path,
            f"name: t\nkind: classification\ndata: {{hf_dataset: '{tmp_path / 'ds'}'}}\n"
            "fields: {input: sentence, label: label}\nlabels: [neg, pos]\n",
        )
    )
    splits = load_splits(task)
    assert len(splits.test) == 10
    assert {e.label for e in splits.train} == {"neg", "pos"}


def test_all_problems_listed_at_once(tmp_path: Path) -> None:
    data = rows(30, ("a", "b"))
    data[3]["label"] = "zzz"
    data[7] = {"label": "a"}
    write_jsonl(tmp_path / "all.jsonl", data)
    task = load_task(
        write_task(
            tmp_path,
            "name: t\nkind: classification\ndata: {file: all.jsonl}\n"
            "fields: {input: text, label: label}\nlabels: [a, b]\n",
        )
    )
    with pytest.raises(ProblemsError) as info:
        load_splits(task)
    lines = sorted(p.line for p in info.value.problems if p.line)
    assert lines == [4, 8]
    dropped = load_splits(task, drop_invalid=True)
    assert len(dropped.train) + len(dropped.validation) + len(dropped.test) == 28
    assert sum(dropped.dropped.values()) == 2
