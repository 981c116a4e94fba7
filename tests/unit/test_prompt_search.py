"""prompt-search: the race finds the prompt that works, within its budget, never scores a
(prompt, row) pair twice, never sees the test split, and its winner reloads from the artifact.
A fake model (it answers right only when the instruction lists the labels) makes the right
answer known; the real tiny model covers the pipeline end to end."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.errors import BakeoffError
from bakeoff.models.base import Generation, OptionScores, Progress, ScoreRequest
from bakeoff.prompting.search import search
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.strategies import PromptSettings
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec
from tests.unit.test_cli_run import make_task

POSITIVE = ("great", "fun", "good", "loved")


class ListenerLM:
    """Right only when the prompt lists the labels; otherwise always 'positive'."""

    name = "listener"
    n_parameters = 1
    has_chat_template = False
    shape_spaced = False

    def __init__(self) -> None:
        self.requests: list[str] = []

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return "\n".join(m["content"] for m in messages)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score(
        self, requests: Sequence[ScoreRequest], progress: Progress | None = None
    ) -> list[OptionScores]:
        self.requests += [r.prompt for r in requests]
        return [
            OptionScores(self.option_scores(r.prompt, r.options), tuple(1 for _ in r.options), 3)
            for r in requests
        ]

    @staticmethod
    def positive_input(prompt: str) -> bool:
        return any(w in prompt.rsplit("Text:", 1)[-1] for w in POSITIVE)

    def option_scores(self, prompt: str, options: tuple[str, ...]) -> tuple[float, ...]:
        """Log-probabilities of (positive, negative) after `prompt`."""
        says_positive = self.positive_input(prompt) or "Answer with one of" not in prompt
        return (-0.1 if says_positive else -3.0, -1.0)

    def generate(self, prompts: Sequence[str], **kwargs: object) -> list[Generation]:
        raise AssertionError("prompt-search scores labels")


def _task() -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "t",
            "kind": "classification",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "text", "label": "label"},
            "labels": ["positive", "negative"],
            "prompt": {"instructions": ["Is this review positive or negative?"]},
        }
    )


def _rows(prefix: str, n: int) -> list[Example]:
    words = [*POSITIVE, "dull", "boring", "bad", "awful"]
    return [
        Example(
            f"{prefix}:{i}", f"{words[i % 8]} film {i}", "positive" if i % 8 < 4 else "negative"
        )
        for i in range(n)
    ]


def _search(lm: ListenerLM, settings: SearchSettings, validation: list[Example]) -> object:
    base = PromptSettings(format="plain")
    return search(_task(), lm, _rows("train", 40), validation, RunContext(seed=0), base, settings)


def test_the_race_finds_the_prompt_that_works_within_its_budget() -> None:
    lm = ListenerLM()
    settings = SearchSettings(max_calls=1500, shots=[0, 2], demos=["random"], calibrate=True)
    candidate = _search(lm, settings, _rows("val", 160))
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert "Answer with one of" in candidate.layout.instruction  # type: ignore[attr-defined]
    assert notes["calls"] <= settings.max_calls and notes["calls"] == len(lm.requests)
    assert len(set(lm.requests)) == len(lm.requests)  # no (prompt, row) scored twice
    assert notes["cache_hits"] > 0  # later rounds reuse earlier rows
    # one layout, demos as chosen: one stage races the whole space
    assert notes["rounds"][0]["candidates"] == notes["raced"] == notes["space"]
    assert notes["refined"] == 0
    assert notes["confirmation"]["rows"] == 80  # half of validation, never raced on
    # the simplest among equals: no demos, no calibration needed to be right
    assert "no demos" in notes["chosen"] and "calibrated" not in notes["chosen"]


def test_the_search_is_reproducible() -> None:
    settings = SearchSettings(max_calls=800, shots=[0, 2], demos=["random", "stratified"])
    first = _search(ListenerLM(), settings, _rows("val", 64)).notes["search"]  # type: ignore[attr-defined]
    again = _search(ListenerLM(), settings, _rows("val", 64)).notes["search"]  # type: ignore[attr-defined]
    assert first["chosen"] == again["chosen"] and first["rounds"] == again["rounds"]


def test_a_small_budget_races_a_sample_of_the_space_that_keeps_the_tasks_own_wording() -> None:
    lm = ListenerLM()
    settings = SearchSettings(max_calls=200, shots=[0, 2, 4], demos=["random", "stratified"])
    notes = _search(lm, settings, _rows("val", 160)).notes["search"]  # type: ignore[attr-defined]
    assert 2 <= notes["raced"] < notes["space"]  # the whole space would not fit
    assert notes["rounds"][0]["candidates"] == notes["raced"] - notes["refined"]
    assert notes["calls"] <= 200 and notes["calls"] == len(lm.requests)
    raced = {row["prompt"] for row in notes["rounds"][0]["scores"]}
    assert "task wording 0; no demos" in raced
    again = _search(ListenerLM(), settings, _rows("val", 160)).notes["search"]  # type: ignore[attr-defined]
    assert again["rounds"] == notes["rounds"]  # the sample is seeded


def test_a_budget_too_small_for_one_round_is_refused_with_what_to_change() -> None:
    with pytest.raises(BakeoffError) as info:
        _search(ListenerLM(), SearchSettings(max_calls=10), _rows("val", 64))
    message = str(info.value)
    assert "search.max_calls 10 is too small for one round" in message
    assert "--search-calls" in message


def test_prompt_search_runs_end_to_end_and_its_winner_reloads(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    searched = ["-s", "prompt-search", "--search-calls", "400", "--wordings", "0"]
    result = CliRunner().invoke(app, [*args, "-s", "zero-shot", *searched])
    assert result.exit_code == 0, result.output
    zero, run = json.loads((out / "results.json").read_text())["runs"]
    assert zero["strategy"] == "zero-shot" and run["strategy"] == "prompt-search"
    findings = json.loads((out / "report.json").read_text())["recommendation"]["findings"]
    (said,) = [f for f in findings if f["rule"] == "prompt search"]
    word = "not significant" if said["figures"]["p"] >= 0.05 else "significant"
    assert "with the task's own wording" in said["message"] and word in said["message"]
    report_md = (out / "report.md").read_text()
    assert "## Prompt search: prompt-search" in report_md
    runners_up = run["details"]["runners_up"]  # the other finalists, scored after the choice
    assert runners_up and all("accuracy" in r["metrics"] for r in runners_up)
    assert "The other finalists on test (scored after the choice)" in report_md
    assert 'id="search-1"' in (out / "report.html").read_text()  # its table and chart
    trace = run["candidate"]["search"]
    assert 0 < trace["calls"] <= 400 and trace["rounds"]
    assert run["usage"]["adapt_seconds"] >= trace["seconds"] * 0.99  # booked as its one-off cost
    artifact = out / "runs" / run["key"] / "artifact"
    result = CliRunner().invoke(
        app, ["predict", "--artifact", str(artifact), "--input", str(tmp_path / "data.jsonl")]
    )
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line)["output"] for line in result.output.splitlines() if line]
    by_id = {p["id"]: p["output"] for p in run["predictions"]}
    assert set(outputs) <= {"positive", "negative"} and by_id  # the saved prompt, reloaded


def test_the_search_never_sees_the_test_split(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Test rows replaced by garbage: the same prompt is chosen (the search reads train and
    validation only; the executor passes nothing else to adapt)."""
    from dataclasses import replace

    from bakeoff.experiment.executor import Worker, execute
    from bakeoff.experiment.grid import Experiment
    from bakeoff.experiment.spec import ExperimentSpec

    make_task(tmp_path)
    spec = ExperimentSpec.model_validate(
        {
            "name": "guard",
            "task": str(tmp_path / "task.yaml"),
            "models": [str(tiny_model_dir)],
            "strategies": [{"name": "prompt-search", "search": {"max_calls": 300}}],
        }
    )
    experiment = Experiment(spec)
    (run,) = experiment.runs
    worker = Worker()
    clean = execute(experiment.job(run, None), worker)
    garbage = [replace(ex, text="zzz " * 50, label="positive") for ex in experiment.splits.test]
    experiment.splits = replace(experiment.splits, test=garbage)
    experiment._subsets.clear()
    dirty = execute(experiment.job(run, None), worker)
    assert clean.candidate["search"]["chosen"] == dirty.candidate["search"]["chosen"]
    assert clean.candidate["search"]["rounds"] == dirty.candidate["search"]["rounds"]


def test_an_interrupted_search_resumes_without_repeating_a_call(tmp_path: Path) -> None:
    settings = SearchSettings(max_calls=900, shots=[0, 2], demos=["random"])
    base = PromptSettings(format="plain")
    validation = _rows("val", 96)

    def run(lm: ListenerLM) -> dict:  # type: ignore[type-arg]
        ctx = RunContext(seed=0, run_dir=tmp_path)
        found = search(_task(), lm, _rows("train", 40), validation, ctx, base, settings)
        return found.notes["search"]  # type: ignore[no-any-return]

    whole = run(ListenerLM())
    journal = tmp_path / "scratch" / "search-journal.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) >= whole["calls"] // 3  # rows and priors, as they were paid for
    kept = lines[: len(lines) // 2]
    journal.write_text("\n".join(kept) + '\n{"b": ["torn', encoding="utf-8")  # killed mid-line

    lm = ListenerLM()
    resumed = run(lm)
    assert resumed["chosen"] == whole["chosen"] and resumed["rounds"] == whole["rounds"]
    unreadable = []
    for line in journal.read_text().splitlines():
        try:
            json.loads(line)
        except ValueError:
            unreadable.append(line)
    assert unreadable == ['{"b": ["torn']  # entries after the torn line stayed whole
    assert 0 < resumed["resumed_calls"] < whole["calls"]
    assert resumed["calls"] == whole["calls"]  # the budget counts the calls before the kill
    assert len(lm.requests) == whole["calls"] - resumed["resumed_calls"]  # none repeated


class WordsLM(ListenerLM):
    """Reads sentiment right only through the words 'great' / 'awful' (the task's 'positive' /
    'negative' are a coin toss to it), and shows them in its next-token distribution."""

    def __init__(self, next_tokens: bool = True) -> None:
        super().__init__()
        if not next_tokens:
            self.next_tokens = None  # type: ignore[assignment]

    def option_scores(self, prompt: str, options: tuple[str, ...]) -> tuple[float, ...]:
        good = self.positive_input(prompt)
        values = {" great": -0.5 if good else -4.0, " awful": -4.0 if good else -0.5}
        return tuple(values.get(o, -2.0) for o in options)

    def next_tokens(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        self.requests += list(prompts)
        return [
            {" great": -0.5, " the": -1.0, " awful": -4.0, " 5": -5.0}
            if self.positive_input(p)
            else {" awful": -0.5, " the": -1.0, " great": -4.0, " 5": -5.0}
            for p in prompts
        ]


def test_mined_label_words_are_found_and_read_off_the_same_forward_passes() -> None:
    lm = WordsLM()
    settings = SearchSettings(
        max_calls=1500, shots=[0], calibrate=False, edits=False, label_words=True
    )
    candidate = _search(lm, settings, _rows("val", 160))
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert notes["mined"] == "positive→great, negative→awful" and notes["mining_calls"] == 16
    assert notes["word_sets"] == ["task words", "mined"]
    assert "mined" in notes["chosen"]
    assert candidate.settings.label_words == {"positive": "great", "negative": "awful"}  # type: ignore[attr-defined]
    # the task's wording (literal text, no `{{ labels }}`) reads both word sets off one
    # request per row; the built-in wordings name the labels, so their texts differ
    raced = len(notes["rounds"][0]["scores"])
    assert raced == 8 and notes["rounds"][0]["calls_so_far"] == 16 + (raced - 1) * 8
    assert notes["calls"] == len(lm.requests) <= 1500


def test_without_next_tokens_the_search_says_why_nothing_was_mined() -> None:
    settings = SearchSettings(max_calls=800, label_words=True)
    notes = _search(WordsLM(next_tokens=False), settings, _rows("val", 64))
    said = notes.notes["search"]  # type: ignore[attr-defined]
    assert said["word_sets"] == ["task words"] and "does not show next-token" in said["mined"]


def test_label_words_and_layouts_can_be_left_out() -> None:
    settings = SearchSettings(max_calls=800, label_words=False, formats=["chat", "plain"])
    notes = _search(WordsLM(), settings, _rows("val", 64)).notes["search"]  # type: ignore[attr-defined]
    assert notes["word_sets"] == ["task words"] and "mined" not in notes
    raced = [row["prompt"] for row in notes["rounds"][0]["scores"]]
    assert not any("chat layout" in p for p in raced)  # this model has no chat template


def test_lora_on_a_searched_prompt_trains_with_the_chosen_prompt_and_reloads(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """`lora+prompt-search`: the search chooses the prompt on the base weights, LoRA trains
    with it; the run records both, and the artifact predicts with the searched prompt."""
    task = make_task(tmp_path)
    out = tmp_path / "out"
    quick = ["--max-steps", "2", "--eval-every", "2", "--batch-size", "4", "--eval-rows", "8"]
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task",
            str(task),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "-s",
            "lora+prompt-search",
            "--search-calls",
            "300",
            *quick,
        ],
    )
    assert result.exit_code == 0, result.output
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["settings"]["search"]["max_calls"] == 300  # the prompt part's own settings
    assert run["settings"]["training"]["lora"]["r"] > 0  # and the trained part's
    trace = run["candidate"]["search"]
    assert 0 < trace["calls"] <= 300 and run["training"]["steps"] == 2
    assert run["candidate"]["instruction"] is not None and run["candidate"]["method"] == "lora"
    assert "## Prompt search: lora+prompt-search" in (out / "report.md").read_text()
    result = CliRunner().invoke(
        app,
        ["predict", "--artifact", run["artifact"], "--input", str(tmp_path / "data.jsonl")],
    )
    assert result.exit_code == 0, result.output
    by_id = {p["id"]: p["output"] for p in run["predictions"]}
    lines = (tmp_path / "data.jsonl").read_text().splitlines()
    outputs = [json.loads(line)["output"] for line in result.output.splitlines() if line]
    for row_id, output in by_id.items():  # the saved prompt and weights, reloaded
        assert outputs[int(row_id.rsplit(":", 1)[1]) - 1] == output
    assert len(outputs) == len(lines)


def test_an_experiment_entry_takes_the_settings_of_both_parts_of_a_hybrid() -> None:
    from bakeoff.experiment.spec import StrategyEntry

    entry = StrategyEntry.model_validate(
        {"name": "lora+prompt-search", "search": {"max_calls": 50}, "lora": {"r": 4}}
    )
    assert entry.own_settings == {"search": {"max_calls": 50}, "lora": {"r": 4}}
    with pytest.raises(ValueError, match="takes `lora` and `search`"):
        StrategyEntry.model_validate({"name": "lora+prompt-search", "serch": {}})
    with pytest.raises(ValueError, match="`search`: "):
        StrategyEntry.model_validate({"name": "lora+prompt-search", "search": {"max_calls": 0}})


class ProposerLM(ListenerLM):
    """A proposer that replies with the given texts in turn."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = replies
        self.prompts: list[str] = []

    def generate(self, prompts: Sequence[str], **kwargs: object) -> list[Generation]:
        self.prompts += list(prompts)
        text = self.replies[(len(self.prompts) - 1) % len(self.replies)]
        return [Generation(text, 10, 10) for _ in prompts]


def _with_proposer(monkeypatch: pytest.MonkeyPatch, proposer: ProposerLM) -> None:
    import bakeoff.models.backends as backends

    monkeypatch.setattr(backends, "load_model", lambda name, options=None: proposer)


def test_a_proposer_writes_instructions_that_join_the_race(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = "Instruction: Decide how the reviewer felt. Answer with one of: positive, negative."
    proposer = ProposerLM([good, "", good])
    _with_proposer(monkeypatch, proposer)
    settings = SearchSettings(
        max_calls=1500, shots=[0], edits=False, proposer="local-proposer", proposer_calls=3
    )
    lm = ListenerLM()
    candidate = _search(lm, settings, _rows("val", 160))
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert notes["proposer_calls"] == 3 and notes["proposed"] == 1  # empty and repeat dropped
    raced = [row["prompt"] for row in notes["rounds"][0]["scores"]]
    assert any(p.startswith("proposal 1") for p in raced)
    # it saw the task, the labels and the leader's errors on training rows
    assert "Is this review positive or negative?" in proposer.prompts[0]
    assert "is negative" in proposer.prompts[0]  # ListenerLM gets negative rows wrong
    assert notes["calls"] == len(lm.requests) <= 1500  # the errors cost task-model calls


def test_a_proposer_that_writes_nothing_usable_stops_the_search_with_what_to_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_proposer(monkeypatch, ProposerLM(["", "ok", "12345678901234567890"]))
    settings = SearchSettings(max_calls=800, proposer="local-proposer", proposer_calls=3)
    with pytest.raises(BakeoffError) as info:
        _search(ListenerLM(), settings, _rows("val", 64))
    message = str(info.value)
    assert "search.proposer 'local-proposer' returned no usable instruction in 3 calls" in message
    assert "proposer_optional: true" in message


def test_an_unreachable_proposer_stops_the_search_unless_allowed_to_go_on() -> None:
    from tests.conftest import free_port

    url = f"openai:writer@http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = SearchSettings(max_calls=800, proposer=url, proposer_calls=2)
    with pytest.raises(BakeoffError, match="cannot connect"):
        _search(ListenerLM(), settings, _rows("val", 64))
    allowed = settings.model_copy(update={"proposer_optional": True})
    notes = _search(ListenerLM(), allowed, _rows("val", 64)).notes["search"]  # type: ignore[attr-defined]
    assert (
        notes["proposer"].startswith("not used: failed:") and "cannot connect" in notes["proposer"]
    )


class ParrotLM(ListenerLM):
    """Writes the right output (the input's first word, upper-cased) only when told to reply
    with the expected output only; otherwise chatters."""

    def generate(self, prompts: Sequence[str], **kwargs: object) -> list[Generation]:
        out = []
        for p in prompts:
            self.requests.append(p)
            first = p.rsplit("Text:", 1)[-1].split()[0]
            told = "expected output only" in p
            out.append(Generation(first.upper() if told else "well, let me think", 5, 3))
        return out


def _generation_task() -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "g",
            "kind": "generation",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "text", "output": "out"},
            "metrics": ["exact_match"],
        }
    )


def test_generation_tasks_are_searched_by_their_metric_on_generated_outputs() -> None:
    def rows(prefix: str, n: int) -> list[Example]:
        words = ["alpha", "beta", "gamma", "delta"]
        return [
            Example(f"{prefix}:{i}", f"{words[i % 4]} item {i}", None, (words[i % 4].upper(),))
            for i in range(n)
        ]

    lm = ParrotLM()
    settings = SearchSettings(max_calls=600, shots=[0, 2], demos=["random", "stratified"])
    base = PromptSettings(format="plain")
    candidate = search(
        _generation_task(), lm, rows("train", 20), rows("val", 80), RunContext(), base, settings
    )
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert notes["metric"] == "exact_match"
    assert "expected output only" in candidate.layout.instruction  # type: ignore[attr-defined]
    raced = [row["prompt"] for row in notes["rounds"][0]["scores"]]
    assert not any("calibrated" in p or "stratified" in p for p in raced)  # label-only axes
    assert notes["rounds"][-1]["scores"][0]["score"] == 1.0
    assert notes["calls"] == len(lm.requests) <= 600
    assert [p.output for p in candidate.predict(rows("test", 4))] == [
        "ALPHA",
        "BETA",
        "GAMMA",
        "DELTA",
    ]  # type: ignore[attr-defined]


def test_a_generation_task_searches_end_to_end_on_a_real_model(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from tests.conftest import write_jsonl, write_task

    rows = [{"text": f"word{i} and more", "out": f"word{i}"} for i in range(40)]
    write_jsonl(tmp_path / "data.jsonl", rows)
    task = write_task(
        tmp_path,
        "name: gen\nkind: generation\ndata: {file: data.jsonl}\n"
        "fields: {input: text, output: out}\n"
        "generation: {max_new_tokens: 4}\nmetrics: [token_f1]\n",
    )
    out = tmp_path / "out"
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "-s", "prompt-search", "--search-calls", "150"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    trace = run["candidate"]["search"]
    assert trace["metric"] == "token_f1" and 0 < trace["calls"] <= 150
    assert "validation token_f1" in (out / "report.md").read_text()


class BiasedLM(ListenerLM):
    """Always leans to 'positive', a little less on negative reviews: only dividing out its
    mean prediction over the rows separates them (content-free inputs look negative to it)."""

    def option_scores(self, prompt: str, options: tuple[str, ...]) -> tuple[float, ...]:
        return (-0.2 if self.positive_input(prompt) else -0.8, -1.0)


def test_calibration_by_the_mean_prediction_is_found_and_kept_in_the_artifact(
    tmp_path: Path,
) -> None:
    settings = SearchSettings(
        max_calls=1200, shots=[0], edits=False, calibrations=["contextual", "mean"]
    )
    candidate = _search(BiasedLM(), settings, _rows("val", 160))
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert notes["chosen"].endswith("calibrated (mean)")
    prior = candidate.settings.prior  # type: ignore[attr-defined]
    assert prior is not None and prior[0] > 0.5  # the lean to 'positive', fitted on validation
    fresh = _rows("new", 16)
    right = [p.output == ex.label for p, ex in zip(candidate.predict(fresh), fresh, strict=True)]  # type: ignore[attr-defined]
    assert all(right)
    candidate.save(tmp_path / "artifact")  # type: ignore[attr-defined]
    from bakeoff.prompting.reload import rebuild_prompt

    manifest = json.loads((tmp_path / "artifact" / "manifest.json").read_text())
    reloaded = rebuild_prompt(tmp_path / "artifact", manifest, _task(), BiasedLM())
    assert reloaded.settings.prior == prior
    assert [p.output for p in reloaded.predict(fresh)] == [ex.label for ex in fresh]


class OrderLM(ListenerLM):
    """Right only when the first demo answers 'negative' (order matters to small models)."""

    def option_scores(self, prompt: str, options: tuple[str, ...]) -> tuple[float, ...]:
        answers = re.findall(r"Answer: (\w+)", prompt)
        right = bool(answers) and answers[0] == "negative"
        says_positive = self.positive_input(prompt) if right else True
        return (-0.1, -3.0) if says_positive else (-3.0, -0.1)


def test_the_order_of_the_demos_is_searched_and_kept() -> None:
    settings = SearchSettings(
        max_calls=1500, shots=[2], demos=["stratified"], orders=4, calibrate=False, edits=False
    )
    candidate = _search(OrderLM(), settings, _rows("val", 160))
    notes = candidate.notes["search"]  # type: ignore[attr-defined]
    assert not any("order" in row["prompt"] for row in notes["rounds"][0]["scores"])  # stage 1
    refined = [r for r in notes["rounds"] if r.get("stage") == 2]  # the finalists' orders
    assert refined and notes["refined"] > 0
    assert any("order 2" in row["prompt"] for row in refined[0]["scores"])
    demos = candidate.selector.demos  # type: ignore[attr-defined]
    assert demos[0].label == "negative"  # the order that works was found
    fresh = _rows("new", 16)
    assert [p.output for p in candidate.predict(fresh)] == [ex.label for ex in fresh]  # type: ignore[attr-defined]


def test_diverse_demos_are_far_apart_and_reload_in_their_order(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import numpy as np

    from bakeoff.prompting.demos import diverse_demos

    class Axis:  # texts "a…" and "b…" point two ways; the first pick is seeded
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return np.array([[1.0, 0.0] if t.startswith("a") else [0.0, 1.0] for t in texts])

    pool = [Example(f"r{i}", f"{'a' if i < 9 else 'b'} row {i}", "positive") for i in range(10)]
    picked = diverse_demos(pool, 2, Axis(), seed=0).demos
    assert {d.text[0] for d in picked} == {"a", "b"}  # the lone "b" row is always taken

    from bakeoff.experiment.plan import run_settings
    from bakeoff.models.hf import HFCausalLM
    from bakeoff.strategy_registry import load_candidate, resolve
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    resolved = resolve("few-shot")
    settings = run_settings(resolved, {"shots": 3, "format": "plain"}, 0, "diverse", None)
    lm = HFCausalLM.load(str(tiny_model_dir))
    candidate = resolved.build(settings).adapt(task, lm, splits.train, [], RunContext())
    candidate.save(tmp_path / "artifact")
    _, reloaded = load_candidate(tmp_path / "artifact")
    texts = [ex.text for ex in splits.test]
    assert reloaded.prompts(texts) == candidate.prompts(texts)  # type: ignore[attr-defined]


def test_edge_cases_of_the_space_are_refused_or_trimmed() -> None:
    from bakeoff.prompting.search_space import search_space

    none_fit = SearchSettings(max_calls=800, shots=[64])  # more demos than training rows
    with pytest.raises(BakeoffError, match=r"add 0 to search\.shots"):
        _search(ListenerLM(), none_fit, _rows("val", 64))
    one_demo = search_space(_task(), SearchSettings(shots=[1, 2], orders=8), 40, ["plain"], [])
    assert not one_demo  # no word sets, no options (a guard for the call below)
    from bakeoff.prompting.label_words import fixed_sets

    space = search_space(
        _task(), SearchSettings(shots=[1, 2], orders=8), 40, ["plain"], fixed_sets(_task())
    )
    assert {o.order for o in space if o.shots == 1} == {0}  # one demo has one order
    assert {o.order for o in space if o.shots == 2} == {0, 1}  # two demos have two


def test_a_refitted_prior_is_the_mean_prediction_on_the_new_weights() -> None:
    from bakeoff.prompting.strategies import build_candidate

    settings = PromptSettings(format="plain", prior=[0.9, 0.1])
    candidate = build_candidate(_task(), BiasedLM(), settings, "", [], RunContext(), "few-shot")
    rows = _rows("r", 8)
    candidate.refit_prior(rows)
    prior = candidate.settings.prior
    assert prior is not None and 0.5 < prior[0] < 0.9  # BiasedLM leans positive, not 90%
    assert [p.output for p in candidate.predict(rows)] == [ex.label for ex in rows]
