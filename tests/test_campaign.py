"""Verification campaigns: determinism, shrinking, counterexamples, replay, reports."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from aethel.batchfile import batch_from_json
from harness.campaign import CampaignConfig, close_executors, run_campaign, runner, shards, shrink
from harness.cli import main
from harness.report.campaign import render_html, write_reports
from harness.report.common import new_run_dir
from harness.report.junit import junit_xml

BROKEN = "docs/examples"


@pytest.fixture(autouse=True)
def _close_cached_executors():
    yield
    close_executors()


def campaign(**overrides):
    config = CampaignConfig(**{"backends": ("thread",), "examples": 24, "jobs": 2,
                               **overrides})
    with ThreadPoolExecutor(config.jobs) as pool:
        return run_campaign(config, pool)


def test_correct_executor_passes_every_property():
    result = campaign(backends=("thread", "process"))
    assert result.ok and result.complete and result.examples == 24
    assert all(passed == 24 and failed == 0 for _, passed, failed in result.property_rows())


def test_same_seed_gives_the_same_batches_and_verdicts():
    first, again, other = campaign(seed=7), campaign(seed=7), campaign(seed=8)
    assert first.digest == again.digest
    assert first.property_rows() == again.property_rows()
    assert other.digest != first.digest


def test_the_batches_do_not_depend_on_the_number_of_jobs():
    results = [campaign(examples=60, jobs=jobs) for jobs in (1, 2, 3, 16)]
    assert len({r.digest for r in results}) == 1
    assert {r.shards for r in results} == {3} and {r.examples for r in results} == {60}
    assert results[0].sizes == results[3].sizes
    summary = results[0].to_json()
    assert summary["shard_size"] == 20 and summary["shards"] == 3
    assert summary["transactions_per_batch"]["max"] > summary["transactions_per_batch"]["min"]


def test_no_campaign_is_dominated_by_minimal_examples():
    # Hypothesis starts every run with its smallest example, keeps its first few small and
    # mutates earlier examples (so runs of one size appear): over many seeds, shards of
    # fixed size keep those to a minority and reach the profile's largest batches (the
    # shards are the same for any --jobs, see the digest tests)
    from harness.campaign.shards import ShardSpec, run_shard
    shards = [run_shard(ShardSpec(CampaignConfig(seed=seed, backends=("serial",)), i, 20)).sizes
              for seed in range(10) for i in range(3)]
    sizes = [size for shard in shards for size in shard]
    assert sum(size == 1 for size in sizes) <= len(sizes) / 3
    assert statistics.median(sizes) >= 3
    assert sum(max(shard) >= 7 for shard in shards) >= 0.8 * len(shards)
    for shard in shards:
        assert sum(size >= 3 for size in shard) >= 5, shard


def test_the_cli_gives_the_same_batches_for_any_jobs(tmp_path):
    digests = set()
    for jobs in ("1", "3"):
        result = CliRunner().invoke(main, ["verify", "--backends", "thread", "--examples", "40",
                                           "--jobs", jobs, "--report", str(tmp_path / jobs)])
        assert result.exit_code == 0, result.output
        summary = json.loads(next((tmp_path / jobs).glob("*/summary.json")).read_text())
        assert summary["config"]["jobs"] == int(jobs)
        digests.add(summary["batches_digest"])
    assert len(digests) == 1


def test_two_runs_started_together_never_share_a_report_folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(BROKEN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([".", BROKEN]))
    root = Path(__file__).resolve().parent.parent
    common = [sys.executable, "-m", "harness.cli", "verify", "--seed", "7", "--backends",
              "thread", "--jobs", "1", "--examples", "40", "--report", str(tmp_path)]
    runs = [subprocess.Popen(common + extra, cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for extra in ([], ["--executor", "tests.broken_executors:OneWave"])]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 1], outputs
    folders = {re.search(r"report: (\S+)/index.html", out).group(1) for out in outputs}
    assert len(folders) == 2 and len(list(tmp_path.iterdir())) == 2
    passing, failing = (Path(re.search(r"report: (\S+)/index.html", out).group(1))
                        for out in outputs)
    assert not (passing / "counterexample.json").exists()
    assert (failing / "counterexample.json").exists()
    for folder in (passing, failing):
        assert json.loads((folder / "summary.json").read_text())["run_id"] == folder.name


def test_report_folders_are_made_fresh_even_within_one_second(tmp_path):
    made = [new_run_dir(tmp_path, "verify-seed0") for _ in range(5)]
    assert len(set(made)) == 5 and all(folder.is_dir() for folder in made)


def test_budget_runs_until_the_time_is_up():
    # shards of 4 examples finish within the budget's grace even on a loaded machine
    result = campaign(examples=None, budget=1.0, shard_size=4)
    assert result.ok and result.examples > 0 and result.seconds >= 1.0


def test_a_broken_executor_is_caught_shrunk_and_explained(monkeypatch):
    monkeypatch.syspath_prepend(BROKEN)
    result = campaign(executor="waves_executor:WavesExecutor", backends=("thread",))
    assert result.ok
    result = campaign(executor="tests.broken_executors:OneWave", backends=("thread",),
                      examples=200)
    ce = result.counterexample
    assert not result.ok and ce is not None
    assert ce["transactions"] == 2 and ce["transactions_before_shrinking"] >= 2
    # one wave runs two conflicting transactions at once: whether the checkers see the
    # second start before the first ended, or (also) a read of a stale version, is timing
    assert {"dependency order", "isolation"} & set(ce["failed_properties"])
    batch = batch_from_json(ce["batch"])
    assert len(batch) == 2
    named = {t for v in ce["verdicts"] if v["counterexample"]
             for t in v["counterexample"]["txns"]}
    assert named == {"t0", "t1"}
    again = campaign(executor="tests.broken_executors:OneWave", backends=("thread",),
                     examples=200)
    assert again.counterexample["batch"] == ce["batch"]


def test_a_stop_during_shrinking_runs_nothing_more_and_keeps_the_failure(monkeypatch):
    """A signal that arrives while a violation is being shrunk ends shrinking at once: no
    further execution, the failure as found, and a note saying why."""
    monkeypatch.syspath_prepend(BROKEN)
    stop: list[bool] = []
    shrink_runs: list[int] = []
    real_shrink, real_check = runner.shrink, shards.check_example

    def check(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            shrink_runs.append(1)
        return real_check(*args, **kwargs)

    def shrink_after_a_signal(config, shard, should_stop):
        stop.append(True)
        return real_shrink(config, shard, should_stop)

    monkeypatch.setattr(shards, "check_example", check)
    monkeypatch.setattr(shrink, "check_example", check)
    monkeypatch.setattr(runner, "shrink", shrink_after_a_signal)
    config = CampaignConfig(executor="tests.broken_executors:OneWave", backends=("thread",),
                            examples=200, jobs=1)
    with ThreadPoolExecutor(1) as pool:
        result = run_campaign(config, pool, should_stop=lambda: bool(stop))
    ce = result.counterexample
    assert stop and not result.complete and ce is not None
    assert ce["note"] == "not shrunk: the campaign was stopped while shrinking"
    assert ce["transactions"] == ce["transactions_before_shrinking"]
    assert shrink_runs == []


def test_reports_are_written_and_self_contained(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(BROKEN)
    result = campaign(executor="tests.broken_executors:OneWave", examples=60)
    summary = {"run_id": "test", "machine": {"cpu": "test"}, **result.to_json()}
    step_summary = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    html_path = write_reports(summary, tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert names == {"summary.json", "summary.md", "index.html", "counterexample.json"}
    page = html_path.read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    # an inline SVG may name its namespace; nothing is fetched from it
    unfetched = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in unfetched and "https://" not in unfetched
    assert "<script" not in page and "<img" not in page
    falsifying = page[page.index("<h2>Falsifying example</h2>"):page.index("<h2>Campaign</h2>")]
    assert "<svg" in falsifying and "dependency order" in page
    assert "# Aethel verification: VIOLATION" in step_summary.read_text()
    assert render_html(json.loads((tmp_path / "run" / "summary.json").read_text())) == page
    xml = junit_xml(summary)
    assert re.search(r'failures="[1-7]"', xml)  # some of the seven properties
    assert "dependency order" in xml


def test_verify_cli_end_to_end(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(BROKEN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([".", BROKEN]))
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--examples", "8", "--jobs", "1", "--report",
                              str(tmp_path), "--junit", str(tmp_path / "junit.xml")])
    assert ok.exit_code == 0, ok.output
    assert "no violation: 8 examples" in ok.output
    assert (tmp_path / "junit.xml").read_text().count("<testcase") == 8  # properties and executor
    bad = runner.invoke(main, ["verify", "--executor", "tests.broken_executors:OneWave",
                               "--backends", "thread", "--examples", "40", "--jobs", "1",
                               "--report", str(tmp_path)])
    assert bad.exit_code == 1, bad.output
    saved = re.search(r"saved (\S+counterexample.json)", bad.output).group(1)
    command = re.search(r"replay: aethel (replay .+)", bad.output).group(1).split()
    assert command == ["replay", saved, "--executor", "tests.broken_executors:OneWave"]
    replayed = runner.invoke(main, command)
    assert replayed.exit_code == 1, replayed.output
    assert "FAIL " in replayed.output
    rebuilt = runner.invoke(main, ["report", str(tmp_path / saved.split("/")[-2])])
    assert rebuilt.exit_code == 0 and "index.html" in rebuilt.output


@pytest.mark.parametrize("args, message", [
    (["--executor", "no_such_module:X"], "--executor: cannot load"),
    (["--executor", "nocolon"], "--executor: must be MODULE:ATTR"),
    (["--backends", "gpu"], "--backends: choose from"),
    (["--workers", "0"], "--workers: must be positive"),
    (["--jobs", "-1"], "--jobs: must be positive"),
    (["--examples", "5", "--budget", "3"], "give --examples or --budget"),
])
def test_verify_rejects_bad_flags_with_exit_2(args, message):
    result = CliRunner().invoke(main, ["verify", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_replay_rejects_a_file_that_is_not_a_counterexample(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "something"}')
    result = CliRunner().invoke(main, ["replay", str(path)])
    assert result.exit_code == 2 and "not an aethel counterexample" in result.output


class _Finished:
    """A pool whose shards have all finished by the time the campaign looks: shard 0 fails,
    the others pass."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, fn, spec) -> Future:
        self.submitted.append(spec.index)
        shard = shards.ShardResult(spec.index, examples=spec.examples)
        if spec.index == 0:
            shard.failure = shards.Failure({}, "thread", 2, [], [], 1, "broken")
        future: Future = Future()
        future.set_result(shard)
        return future


def test_a_failure_finishing_with_later_shards_ends_the_campaign_on_it(monkeypatch):
    # the later shards finish in the same wait as the failing one: they are not counted
    monkeypatch.setattr(runner, "shrink", lambda config, shard, *_: {"shard": shard.index})
    pool = _Finished()
    config = CampaignConfig(examples=200, jobs=2)
    result = run_campaign(config, pool)
    assert not result.ok and result.counterexample == {"shard": 0}
    handed_out = [spec.index for spec in runner.plan(config)]
    assert result.examples == 20 and pool.submitted == handed_out[:4]


def test_the_batches_do_not_depend_on_the_source_of_local_modules(monkeypatch):
    # Hypothesis mixes literals from the source of local (not installed) modules into some
    # draws: an editable checkout, a wheel install or a user's executor module beside the
    # campaign must not change the batches of a seed
    from hypothesis.internal.conjecture import providers

    from harness.campaign.shards import ShardSpec, run_shard
    spec = ShardSpec(CampaignConfig(backends=("serial",), examples=20), 0, 20)
    digests = []
    for integers in ((), range(100, 400)):
        found = providers.Constants(integers=set(integers))
        monkeypatch.setattr(providers, "_get_local_constants", lambda found=found: found)
        providers.CONSTANTS_CACHE.cache.clear()
        digests.append(run_shard(spec).digest)
    assert digests[0] == digests[1]


def test_a_failure_that_does_not_fail_again_says_so_in_plain_words(monkeypatch):
    # a timing bug: the first example fails, every re-run of it passes
    real = shards.check_example
    calls = []

    def once(config, batch, *args, **kwargs):
        checked, failure = real(config, batch, *args, **kwargs)
        calls.append(batch)
        if len(calls) == 1:
            failure = shards.Failure({}, "serial", 1, [], [], len(batch), "made up", "crashed")
        return checked, failure

    monkeypatch.setattr(shards, "check_example", once)
    spec = shards.ShardSpec(CampaignConfig(backends=("serial",)), 0, 20, shrink=True)
    result = shards.run_shard(spec)
    assert result.note == ("shrinking stopped: a smaller example failed once and then passed "
                           "when run again (the bug depends on timing)")


def test_throughput_leaves_out_the_time_spent_shrinking():
    result = runner.CampaignResult(CampaignConfig(), examples=30, seconds=5.0,
                                   counterexample={"shrink_seconds": 3.5})
    assert result.throughput == 20.0
    assert result.to_json()["throughput_examples_per_s"] == 20.0


def test_the_search_for_a_smaller_failure_tries_several_strategies():
    """Whole-state merge loses an update only between two independent transactions that
    both write; shard 1's high-contention strategy draws almost none within 200 examples of
    at most 2 transactions, so a search confined to it kept a 3-transaction counterexample
    (once in a CI run). The search also tries the strategies of the next shards."""
    config = CampaignConfig(executor="harness.mutants:WholeStateMerge", backends=("thread",))
    batch = batch_from_json({"version": 1, "accounts": {"a": 1, "b": 1, "c": 1},
                             "transactions": [{"id": f"t{i}", "ops": [
                                 {"op": "deposit", "account": name, "amount": 1}]}
                                 for i, name in enumerate("abc")]})
    _, failure = shards.check_example(config, batch, shrink.SHRINK_REPEATS, shard=1)
    assert failure is not None and failure.transactions == 3
    smaller = shrink.smaller_failure(config, failure, shard=1)
    assert smaller is not None and smaller.transactions == 2
