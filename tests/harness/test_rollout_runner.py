"""The rollout runner: isolation, timeouts, concurrency limits, durable records, resume and repair."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from harness.llm import LLMError
from harness.rollout import (
    EpisodeOutcome,
    ResultsFileError,
    ResultStore,
    RolloutJob,
    make_jobs,
    read_records,
    run_rollouts,
)


def keys_in(out: Path) -> Counter[str]:
    return Counter(
        json.loads(line)["episode_key"] for line in (out / "results.jsonl").read_text().splitlines()
    )


class Episodes:
    """An episode function whose behaviour depends on the task id: ``boom`` raises, ``hang`` never ends,
    ``llm`` fails like a dead endpoint, ``junk`` returns something that is not an outcome; others score."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.in_flight: Counter[str | None] = Counter()
        self.peak: Counter[str | None] = Counter()
        self.total_in_flight = 0
        self.total_peak = 0

    async def __call__(self, job: RolloutJob) -> EpisodeOutcome:
        self.calls[job.episode_key] += 1
        endpoint = endpoint_of(job)
        self.in_flight[endpoint] += 1
        self.total_in_flight += 1
        self.peak[endpoint] = max(self.peak[endpoint], self.in_flight[endpoint])
        self.total_peak = max(self.total_peak, self.total_in_flight)
        try:
            await asyncio.sleep(0.01)
            if job.task_id == "boom":
                raise RuntimeError("tool exploded")
            if job.task_id == "hang":
                await asyncio.sleep(3600)
            if job.task_id == "llm":
                raise LLMError("rate_limited", attempts=5, status=429, model="m", base_url="http://x")
            if job.task_id == "junk":
                return {"reward": float("nan")}  # type: ignore[return-value]
            score = int(job.task_id.split("-")[1]) / 10
            return EpisodeOutcome(
                reward=score, reward_components={"score": score}, steps=3, usage={"calls": 3}
            )
        finally:
            self.in_flight[endpoint] -= 1
            self.total_in_flight -= 1


def endpoint_of(job: RolloutJob) -> str | None:
    return {"a": "http://a/v1", "b": "http://b/v1"}.get(job.policy)


def run(jobs: list[RolloutJob], fn: Episodes, out: Path, **kwargs: object):
    kwargs.setdefault("progress", False)
    return asyncio.run(run_rollouts(jobs, fn, out, **kwargs))  # type: ignore[arg-type]


def test_failures_are_isolated_and_every_job_is_recorded_once(tmp_path: Path) -> None:
    tasks = ["t-1", "boom", "t-2", "hang", "llm", "junk", "t-3"]
    jobs = make_jobs(tasks, ["a"], 2)
    fn = Episodes()
    summary = run(jobs, fn, tmp_path, concurrency=4, timeout_s=0.3)
    assert keys_in(tmp_path) == Counter({job.episode_key: 1 for job in jobs})
    records = {r.episode_key: r for r in read_records(tmp_path)}
    assert summary.completed == 6 and summary.failed == 8 and summary.missing == 0
    assert summary.failures_by_reason == {
        "RuntimeError": 2,
        "timeout": 2,
        "llm_rate_limited": 2,
        "bad_outcome": 2,
    }
    boom = records["boom::a::0"]
    assert boom.status == "failed" and boom.error == "RuntimeError: tool exploded"
    assert "raise RuntimeError" in boom.traceback and "__call__" in boom.traceback
    hang = records["hang::a::1"]
    assert hang.reason == "timeout" and "0.3" in hang.error and "asyncio.sleep(3600)" in hang.traceback
    assert records["junk::a::0"].reason == "bad_outcome" and "finite" in records["junk::a::0"].error
    ok = records["t-2::a::1"]
    assert ok.status == "completed" and ok.reward == 0.2 and ok.reward_components == {"score": 0.2}
    assert (
        ok.steps == 3
        and ok.usage == {"calls": 3}
        and ok.seed == jobs[0].model_copy(update={"task_id": "t-2", "trial": 1}).seed(0)
    )
    assert summary.mean_reward == pytest.approx(0.2)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["failed"] == 8 and saved["failures_by_reason"]["timeout"] == 2


def test_an_episode_function_that_is_not_async_is_isolated_too(tmp_path: Path) -> None:
    def not_async(job: RolloutJob) -> EpisodeOutcome:
        if job.task_id == "t-1":
            raise KeyError("raised before any await")
        return EpisodeOutcome(reward=1.0)  # not awaitable: a TypeError inside the episode

    summary = asyncio.run(
        run_rollouts(make_jobs(["t-1", "t-2"], ["a"], 1), not_async, tmp_path, progress=False)
    )  # type: ignore[arg-type]
    assert summary.failures_by_reason == {"KeyError": 1, "TypeError": 1}


def test_global_and_per_endpoint_limits_hold(tmp_path: Path) -> None:
    jobs = make_jobs([f"t-{i}" for i in range(12)], ["a", "b", "free"], 1)
    fn = Episodes()
    summary = run(
        jobs, fn, tmp_path, concurrency=5, endpoint_of=endpoint_of, per_endpoint_limits={"http://a/v1": 2}
    )
    assert summary.completed == 36
    assert fn.peak["http://a/v1"] == 2
    assert fn.total_peak == 5
    assert fn.peak["http://b/v1"] >= 2 and fn.peak[None] >= 2  # the other endpoints used the free workers


def test_resume_skips_finished_and_retry_failed_reruns_only_failures(tmp_path: Path) -> None:
    jobs = make_jobs(["t-1", "boom", "t-2"], ["a"], 2)
    first = Episodes()
    run(jobs[:3], first, tmp_path)
    assert sum(first.calls.values()) == 3
    second = Episodes()
    summary = run(jobs, second, tmp_path)
    assert set(second.calls) == {j.episode_key for j in jobs[3:]}
    assert summary.skipped_finished == 3 and summary.ran == 3 and summary.failed == 2
    third = Episodes()
    summary = run(jobs, third, tmp_path)
    assert not third.calls and summary.ran == 0 and summary.completed + summary.failed == 6
    fourth = Episodes()
    summary = run(jobs, fourth, tmp_path, retry_failed=True)
    assert set(fourth.calls) == {"boom::a::0", "boom::a::1"} and summary.rerun_failed == 2
    assert keys_in(tmp_path) == Counter({job.episode_key: 1 for job in jobs})


def test_torn_last_line_is_cut_and_that_episode_rerun(tmp_path: Path) -> None:
    jobs = make_jobs(["t-1", "t-2", "t-3"], ["a"], 1)
    run(jobs[:2], Episodes(), tmp_path)
    results = tmp_path / "results.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])  # the second line was being written
    fn = Episodes()
    run(jobs, fn, tmp_path)
    assert set(fn.calls) == {jobs[1].episode_key, jobs[2].episode_key}
    assert keys_in(tmp_path) == Counter({job.episode_key: 1 for job in jobs})


def test_garbage_tail_is_cut_but_a_bad_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    jobs = make_jobs(["t-1", "t-2"], ["a"], 1)
    run(jobs, Episodes(), tmp_path)
    results = tmp_path / "results.jsonl"
    good = results.read_bytes()
    results.write_bytes(good + b"\x00\x00\x00\n{not json}\n")
    with ResultStore(tmp_path) as store:
        assert set(store.records) == {j.episode_key for j in jobs}
        assert store.repair.dropped_lines == 2
    assert results.read_bytes() == good
    lines = good.splitlines(keepends=True)
    results.write_bytes(lines[0] + b'{"episode_key": 1}\n' + lines[1])
    with pytest.raises(ResultsFileError, match=r"results.jsonl:2: not a valid episode record"):
        ResultStore(tmp_path).open()


def test_second_runner_on_same_directory_is_refused(tmp_path: Path) -> None:
    with ResultStore(tmp_path), pytest.raises(ResultsFileError, match="in use by another runner"):
        ResultStore(tmp_path).open()
    with ResultStore(tmp_path):  # released on close
        pass


def test_store_refuses_to_write_an_episode_twice(tmp_path: Path) -> None:
    jobs = make_jobs(["t-1"], ["a"], 1)
    run(jobs, Episodes(), tmp_path)
    (record,) = read_records(tmp_path)
    with ResultStore(tmp_path) as store, pytest.raises(ResultsFileError, match="already in"):
        store.append(record)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    jobs = make_jobs(["t-1"], ["a"], 1)
    with pytest.raises(ValueError, match="duplicate job"):
        run(jobs + jobs, Episodes(), tmp_path)
    with pytest.raises(ValueError, match="concurrency"):
        run(jobs, Episodes(), tmp_path, concurrency=0)
    with pytest.raises(ValueError, match="duplicate task id 't-1'"):
        make_jobs(["t-1", "t-1"], ["a"], 1)
    with pytest.raises(ValueError, match="must not contain '::'"):
        RolloutJob(task_id="a::b", policy="p", trial=0)


def test_seeds_are_stable_and_shared_across_policies() -> None:
    a = RolloutJob(task_id="t", policy="openai:x", trial=2)
    b = RolloutJob(task_id="t", policy="scripted", trial=2)
    assert a.seed(5) == b.seed(5)
    assert a.seed(5) != a.seed(6) != RolloutJob(task_id="t", policy="p", trial=3).seed(5)
    assert a.episode_key == "t::openai:x::2"
    assert [j.episode_key for j in make_jobs(["x", "y"], ["p"], 2)] == [
        "x::p::0",
        "y::p::0",
        "x::p::1",
        "y::p::1",
    ]
