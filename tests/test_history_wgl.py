"""The linearizability search: classic cases by hand, histories recorded from real
concurrent objects, agreement with a brute-force checker, timeouts and partitions."""

from __future__ import annotations

import itertools
import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.history import check, explain, make_model, parse_history, wgl
from harness.history.bench import cas_register, concurrent_writes, key_value, perturb, record
from harness.history.formats import Event
from harness.history.model import Input
from harness.history.models import KeyValue
from harness.history.operations import operations


def history(*rows: str) -> list[Event]:
    """Events from ``"process type f value"`` rows (the value in EDN)."""
    lines = []
    for row in rows:
        process, type_, f, value = row.split(" ", 3)
        lines.append(f"{{:process {process} :type :{type_} :f :{f} :value {value}}}")
    return parse_history("\n".join(lines))


def verdict(events, model="register", init=None, fail="drop", **options) -> str:
    chosen = make_model(model) if init is None else make_model(model, init)
    return check(events, chosen, fail, **options).outcome


def test_stale_read():
    events = history("0 invoke write 1", "0 ok write 1", "1 invoke write 2", "1 ok write 2",
                     "0 invoke read nil", "0 ok read 1")
    result = check(events, make_model("register"))
    assert result.outcome == "not linearizable"
    part = result.partitions[0]
    assert (part.culprit.f, part.culprit.value) == ("read", 1)
    assert [op.value for op in part.prefix] == [1, 2]
    text = explain(result)
    assert text.splitlines()[1].startswith("Cannot take effect: process 0 read 1 (ok, lines 5-6)")
    assert "it read 1 but the register holds 2" in text


def test_two_writes_seen_in_opposite_orders():
    both = ["0 invoke write 1", "1 invoke write 2",
            "2 invoke read nil", "2 ok read 1", "2 invoke read nil", "2 ok read 2",
            "3 invoke read nil", "3 ok read 2", "3 invoke read nil", "3 ok read 1",
            "0 ok write 1", "1 ok write 2"]
    assert verdict(history(*both)) == "not linearizable"
    assert verdict(history(*both[:8], *both[10:])) == "linearizable"


@pytest.mark.parametrize(("seen", "expected"), [(0, "linearizable"), (1, "linearizable"),
                                                (2, "not linearizable")])
def test_crashed_write_may_or_may_not_have_happened(seen, expected):
    events = history("0 invoke write 1", "0 info write 1", "1 invoke read nil",
                     f"1 ok read {seen}", "1 invoke read nil", "1 ok read 1")
    assert verdict(events[:4], init=0) == ("not linearizable" if seen == 2 else "linearizable")
    assert verdict(events, init=0) == expected


def test_crashed_write_never_seen_is_left_out():
    events = history("0 invoke write 1", "1 invoke read nil", "1 ok read 0", "0 info write 1",
                     "1 invoke read nil", "1 ok read 0")
    assert verdict(events, init=0) == "linearizable"


def test_failed_cas_differs_between_semantics():
    # The register holds 1 throughout, yet a cas from 1 failed: impossible only if the
    # failure is taken as an assertion (Porcupine's etcd model), fine if dropped (Knossos).
    events = history("0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]",
                     "1 fail cas [1 2]", "0 invoke read nil", "0 ok read 1")
    assert verdict(events, "cas-register", fail="drop") == "linearizable"
    assert verdict(events, "cas-register", fail="assert") == "not linearizable"
    result = check(events, make_model("cas-register"), fail="assert")
    assert "it failed, yet the register held 1" in explain(result)


def test_failed_cas_assertion_holds_when_state_differs():
    events = history("0 invoke write 1", "0 ok write 1", "1 invoke cas [3 2]",
                     "1 fail cas [3 2]", "1 invoke read nil", "1 fail read nil")
    assert verdict(events, "cas-register", fail="assert") == "linearizable"


def test_concurrent_read_sees_either_value():
    for seen in (0, 1):
        events = history("0 invoke write 1", "1 invoke read nil", f"1 ok read {seen}",
                         "0 ok write 1")
        assert verdict(events, "cas-register", init=0) == "linearizable"
    events = history("0 invoke write 1", "1 invoke read nil", "1 ok read 5", "0 ok write 1")
    assert verdict(events, "cas-register", init=0) == "not linearizable"


def test_read_of_nil_matches_any_state():
    events = history("0 invoke write 1", "0 ok write 1", "0 invoke read nil", "0 ok read nil")
    assert verdict(events, "cas-register") == "linearizable"


def test_mutex_double_acquire():
    events = history("0 invoke acquire nil", "0 ok acquire nil", "1 invoke acquire nil",
                     "1 ok acquire nil")
    result = check(events, make_model("mutex"))
    assert result.outcome == "not linearizable"
    assert "the lock is already held" in explain(result)
    released = history("0 invoke acquire nil", "0 ok acquire nil", "1 invoke acquire nil",
                       "0 invoke release nil", "0 ok release nil", "1 ok acquire nil")
    assert verdict(released, "mutex") == "linearizable"


def test_kv_append_order():
    events = history('0 invoke append ["k" "a"]', '1 invoke append ["k" "b"]',
                     '0 ok append ["k" "a"]', '1 ok append ["k" "b"]',
                     '2 invoke get ["k" nil]', '2 ok get ["k" "ba"]',
                     '2 invoke append ["j" "x"]', '2 ok append ["j" "x"]')
    result = check(events, make_model("kv"))
    assert result.outcome == "linearizable"
    assert sorted(p.key for p in result.partitions) == ["j", "k"]
    wrong = history('0 invoke append ["k" "a"]', '0 ok append ["k" "a"]',
                    '1 invoke append ["k" "b"]', '1 ok append ["k" "b"]',
                    '2 invoke get ["k" nil]', '2 ok get ["k" "ba"]')
    result = check(wrong, make_model("kv"))
    assert result.outcome == "not linearizable"
    assert 'it read "ba" but the key holds "ab"' in explain(result)


def test_bank_read_that_does_not_sum():
    events = history("0 invoke transfer {:from 0 :to 1 :amount 5}",
                     "0 ok transfer {:from 0 :to 1 :amount 5}",
                     "1 invoke read nil", "1 ok read {0 5 1 15}",
                     "1 invoke read nil", "1 ok read {0 5 1 14}")
    assert verdict(events, "bank", init={0: 10, 1: 10}) == "not linearizable"
    assert verdict(events[:4], "bank", init={0: 10, 1: 10}) == "linearizable"
    assert verdict(events[2:] + events[:2], "bank") == "not linearizable"
    result = check(events, make_model("bank", {0: 10, 1: 10}))
    assert "(total 19) but the balances are" in explain(result)


def test_recorded_histories_are_linearizable_and_a_perturbed_read_is_not():
    for seed in range(3):
        registers = record(5, 80, cas_register(), seed=seed, crash=0.05)
        assert verdict(registers, "cas-register") == "linearizable"
        assert verdict(registers, "cas-register", fail="assert") == "linearizable"
        broken = perturb(registers, random.Random(seed), 99)
        assert verdict(broken, "cas-register") == "not linearizable"
        store = record(8, 200, key_value(3), seed=seed)
        assert verdict(store, "kv", timeout=60) == "linearizable"
        assert verdict(perturb(store, random.Random(seed), "never"), "kv", timeout=60) == \
            "not linearizable"


def test_timeout_gives_unknown():
    result = check(concurrent_writes(22), make_model("register"), timeout=0.2)
    assert result.outcome == "unknown"
    assert result.partitions[0].outcome == "unknown"
    assert "did not finish within 0.2 s" in explain(result)


def _appends_then_get(key: str, count: int, process: int = 0) -> list[str]:
    """``count`` concurrent appends of ``a``, ``aa``, ``aaa``… then a get one ``a`` short of
    them all: not linearizable, and the kv pruner cannot tell (with each piece usable
    any number of times, every shorter run of ``a`` can still be composed), so the search
    goes through every subset of the appends."""
    pieces = ["a" * n for n in range(1, count + 1)]
    rows = [f'{process + n} invoke append ["{key}" "{p}"]' for n, p in enumerate(pieces)]
    rows += [f'{process + n} ok append ["{key}" "{p}"]' for n, p in enumerate(pieces)]
    read = "a" * (sum(map(len, pieces)) - 1)
    return rows + [f'{process + count} invoke get ["{key}" nil]',
                   f'{process + count} ok get ["{key}" "{read}"]']


def _slow_and_violating() -> list[Event]:
    """Key ``slow``: twenty-two concurrent appends (see :func:`_appends_then_get`). Key
    ``bad``: a stale read."""
    return history(*_appends_then_get("slow", 22), '30 invoke put ["bad" "x"]',
                   '30 ok put ["bad" "x"]', '30 invoke get ["bad" nil]',
                   '30 ok get ["bad" ""]')


def test_a_slow_partition_does_not_delay_a_violation():
    result = check(_slow_and_violating(), make_model("kv"), timeout=60)
    assert result.outcome == "not linearizable"
    outcomes = {p.key: p.outcome for p in result.partitions}
    assert outcomes == {"slow": "unknown", "bad": "not linearizable"}
    assert "1 other partition was not finished" in explain(result)


@pytest.mark.parametrize("appends", [8, 16])
def test_partitions_in_processes(appends):
    # Eight appends: the first round in this process finds the violation; sixteen: a worker.
    events = _slow_and_violating()[:-4] + history(*_appends_then_get("w", appends, 40))
    result = check(events, make_model("kv"), timeout=60, jobs=2)
    assert result.outcome == "not linearizable"
    assert {p.key: p.outcome for p in result.partitions} == {
        "w": "not linearizable", "slow": "unknown"}


@st.composite
def small_histories(draw):
    """At most six operations, each by its own process, with integer times (ties too)."""
    model = draw(st.sampled_from(["register", "cas-register", "mutex"]))
    events = []
    for process in range(draw(st.integers(1, 6))):
        if model == "mutex":
            f, value = draw(st.sampled_from(["acquire", "release"])), None
        else:
            f = draw(st.sampled_from(["read", "write", "cas"] if model == "cas-register"
                                     else ["read", "write"]))
            value = draw(st.integers(0, 2)) if f == "write" else \
                [draw(st.integers(0, 2)), draw(st.integers(0, 2))] if f == "cas" else None
        status = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        done = draw(st.integers(0, 2)) if f == "read" and status == "ok" else value
        start = draw(st.integers(0, 12))
        events.append(Event(process, "invoke", f, value, None, start, 0))
        if status != "info" or draw(st.booleans()):
            events.append(Event(process, status, f, done, None,
                                start + draw(st.integers(0, 6)), 0))
    events.sort(key=lambda e: (e.time, e.type != "invoke"))
    return model, draw(st.sampled_from(["drop", "assert"])), \
        [e._replace(line=n) for n, e in enumerate(events, 1)]


def brute_force(events, model, fail) -> bool:
    """Some order of the completed operations and of any subset of the crashed ones that
    respects real time and that the model accepts (each key on its own state)."""
    ops = operations(events, model, fail)
    must = [op for op in ops if op.status != "info"]
    maybe = [op for op in ops if op.status == "info"]
    return any(_some_order(must + list(extra), {}, model)
               for size in range(len(maybe) + 1)
               for extra in itertools.combinations(maybe, size))


def _some_order(left, states, model) -> bool:
    if not left:
        return True
    for op in left:
        if any(other.ret < op.call for other in left):
            continue
        ok, after = model.step(states.get(op.key, model.init()), Input(op.f, op.value),
                               op.status)
        if ok and _some_order([o for o in left if o is not op], {**states, op.key: after},
                              model):
            return True
    return False


@given(small_histories())
def test_agrees_with_brute_force(case):
    name, fail, events = case
    model = make_model(name, 0) if name != "mutex" else make_model(name)
    expected = "linearizable" if brute_force(events, model, fail) else "not linearizable"
    assert check(events, model, fail).outcome == expected


@st.composite
def kv_histories(draw):
    """At most seven kv operations on one or two keys, each by its own process, over a
    short or a long time (then often with moments when no operation is open), with
    pieces and reads that overlap (``a``, ``ab``, ``ba``…)."""
    keys = draw(st.sampled_from([["k"], ["k", "j"]]))
    span = draw(st.sampled_from([8, 40]))
    events = []
    for process in range(draw(st.integers(1, 7))):
        f = draw(st.sampled_from(["get", "put", "append"]))
        key = draw(st.sampled_from(keys))
        value = None if f == "get" else draw(st.sampled_from([None, "", "a", "b", "ab"]))
        status = draw(st.sampled_from(["ok", "ok", "ok", "ok", "info", "fail"]))
        done = draw(st.sampled_from([None, "", "a", "b", "ab", "ba", "aa", "abb", "bab"])) \
            if f == "get" else value
        start = draw(st.integers(0, span))
        events.append(Event(process, "invoke", f, value, key, start, 0))
        if status != "info" or draw(st.booleans()):
            events.append(Event(process, status, f, done, key,
                                start + draw(st.integers(0, 6)), 0))
    events.sort(key=lambda e: (e.time, e.type != "invoke"))
    return [e._replace(line=n) for n, e in enumerate(events, 1)]


@given(kv_histories(), st.sampled_from(["", "a"]))
def test_kv_agrees_with_brute_force(events, init):
    model = make_model("kv", init)
    expected = "linearizable" if brute_force(events, model, "drop") else "not linearizable"
    assert check(events, model).outcome == expected


def test_kv_keys_that_python_equates_stay_apart():
    events = history('0 invoke put [1 "a"]', '0 ok put [1 "a"]',
                     '0 invoke get [true nil]', '0 ok get [true ""]',
                     '0 invoke get [1.0 nil]', '0 ok get [1.0 ""]')
    result = check(events, make_model("kv"))
    assert result.outcome == "linearizable"
    assert len(result.partitions) == 3


def test_kv_history_of_50_clients_within_a_step_budget():
    # Before the kv pruner, such histories took up to 20 million steps.
    events = record(50, 1700, key_value(10), seed=1)
    result = check(events, make_model("kv"), timeout=600)
    assert result.outcome == "linearizable"
    assert result.steps <= 17_000
    assert result.cache_entries <= 17_000
    broken = check(perturb(events, random.Random(1), "never"), make_model("kv"), timeout=600)
    assert broken.outcome == "not linearizable"


def test_a_violation_found_by_the_pruner_is_explained_by_the_plain_search():
    events = history('0 invoke append ["k" "a"]', '1 invoke append ["k" "b"]',
                     '0 ok append ["k" "a"]', '1 ok append ["k" "b"]',
                     '2 invoke get ["k" nil]', '2 ok get ["k" "ab"]',
                     '2 invoke get ["k" nil]', '2 ok get ["k" "ba"]')
    result = check(events, make_model("kv"))
    assert result.outcome == "not linearizable"
    part = result.partitions[0]
    assert (part.culprit.f, part.culprit.value) == ("get", "ba")
    assert 'it read "ba" but the key holds "ab"' in explain(result)


def test_without_the_plain_search_the_pruned_candidate_names_the_get(monkeypatch):
    monkeypatch.setattr(wgl, "EXPLAIN_STEPS", 0)
    events = history('0 invoke append ["k" "a"]', '0 ok append ["k" "a"]',
                     '1 invoke get ["k" nil]', '1 ok get ["k" "ba"]')
    result = check(events, make_model("kv"))
    assert result.outcome == "not linearizable"
    assert result.partitions[0].culprit.f == "append"
    assert ('but then process 1 key "k" get "ba" (ok, lines 3-4) can no longer take '
            'effect') in explain(result)


@pytest.mark.parametrize("model", ["register", "cas-register"])
def test_registers_with_keys_are_checked_key_by_key(model):
    # Jepsen's independent registers: a read of key b cannot see a write of key a
    events = parse_history("\n".join([
        "{:process 0 :type :invoke :f :write :key :a :value 1}",
        "{:process 0 :type :ok :f :write :key :a :value 1}",
        "{:process 1 :type :invoke :f :read :key :b :value nil}",
        "{:process 1 :type :ok :f :read :key :b :value 1}"]))
    result = check(events, make_model(model, 0))
    assert result.outcome == "not linearizable"
    assert len(result.partitions) == 2
    assert [op.key for op in result.partitions[1].prefix] == []


class _DiesInWorkers(KeyValue):
    """The kv model, except that a worker process dies as soon as it steps it."""

    def __init__(self) -> None:
        super().__init__()
        self.parent = os.getpid()

    def step(self, state, input, output):
        if os.getpid() != self.parent:
            os._exit(1)
        return super().step(state, input, output)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_worker_that_dies_leaves_its_partitions_to_this_process(monkeypatch, threads):
    # with another thread running the workers are spawned, else forked
    monkeypatch.setattr(wgl.threading, "active_count", lambda: threads)
    events = _slow_and_violating()[:-4] + history(*_appends_then_get("w", 16, 40))
    result = check(events, _DiesInWorkers(), timeout=60, jobs=2)
    assert result.outcome == "not linearizable"
    assert result.seconds < 45  # not the whole timeout: the dead workers are noticed


@pytest.mark.parametrize("threads", [1, 2])
def test_forked_and_spawned_workers_agree(monkeypatch, threads):
    monkeypatch.setattr(wgl.threading, "active_count", lambda: threads)
    events = _slow_and_violating()[:-4] + history(*_appends_then_get("w", 16, 40))
    result = check(events, make_model("kv"), timeout=60, jobs=2)
    assert {p.key: p.outcome for p in result.partitions} == {
        "w": "not linearizable", "slow": "unknown"}
