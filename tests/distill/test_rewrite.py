"""The LLM rewriter against a real local OpenAI-compatible server: good rewrites are used, a rewrite that drops a
quoted fact is re-asked with the reason and then falls back to the offline text (recorded in ``meta``), endpoint
failures fall back too, the cache makes reruns free, and every output passes the validator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import typer
from typer.testing import CliRunner

from harness.cli import distill as distill_cmd
from harness.distill import LLMRewriter, anchors, internalize, validate_sample
from harness.distill.rewrite import fill, internalize_with_slots
from harness.judge.cache import JudgeCache
from harness.llm import LLMClient, LLMConfig
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer
from sandbox.recorder import EpisodeTrace, read_traces

GOOD_OPENING = "I went back over my own work before acting."


def _trace(recorded) -> EpisodeTrace:
    path, _ = recorded
    return next(t for t in read_traces(path) if t.accepted)


def _facts_by_notes(trace: EpisodeTrace) -> dict[str, list[str]]:
    """Offline reflection text -> the facts its rewrite must keep."""
    _, slots = internalize_with_slots(trace)
    return {s.offline: list(dict.fromkeys(a for lesson in s.lessons for a in anchors(lesson))) for s in slots}


def _responder(trace: EpisodeTrace, drop_fact_when: Callable[[str, int], bool]) -> Callable:
    """Answer each rewrite request with first-person text keeping every fact, except when
    ``drop_fact_when(notes, attempt)`` says to leave the first fact out."""
    facts = _facts_by_notes(trace)

    def respond(request: RecordedRequest) -> Reply:
        messages = request.body["messages"]
        prompt = messages[1]["content"]
        notes = next(n for n in facts if f"<notes>\n{n}\n</notes>" in prompt)
        attempt = (len(messages) - 2) // 2 + 1
        kept = facts[notes][1:] if drop_fact_when(notes, attempt) else facts[notes]
        body = " ".join(f"I notice that {fact} matters here." for fact in kept)
        return Reply.text(f"{GOOD_OPENING} {body} So I will act on it now.")

    return respond


def _config(server: ScriptedOpenAIServer, **overrides) -> LLMConfig:
    values = {"base_url": server.base_url, "model": "rw", "max_retries": 0, "timeout_s": 5.0}
    return LLMConfig(**{**values, **overrides})


def _rewrite(trace: EpisodeTrace, server: ScriptedOpenAIServer, cache: JudgeCache | None = None, **kw):
    async def run():
        async with LLMClient(_config(server)) as client:
            return await LLMRewriter(client, cache=cache, **kw).rewrite(trace)

    return asyncio.run(run())


def _reflections(done) -> list[str]:
    return [m["reasoning_content"] for m in done.sample.messages if m.get("reasoning_content")]


def test_offline_text_in_every_slot_gives_the_offline_sample(recorded) -> None:
    trace = _trace(recorded)
    done, slots = internalize_with_slots(trace)
    assert len(slots) == 2
    assert fill(done, {s.token: s.offline for s in slots}).sample == internalize(trace).sample


def test_good_rewrites_are_used_and_cached(recorded, tmp_path: Path) -> None:
    trace = _trace(recorded)
    cache = JudgeCache(tmp_path / "rw.sqlite")
    with ScriptedOpenAIServer(responder=_responder(trace, lambda notes, attempt: False)) as server:
        done = _rewrite(trace, server, cache)
        assert len(server.chat_requests()) == 2
        again = _rewrite(trace, server, cache)
        assert len(server.chat_requests()) == 2  # served from the cache
    sample = done.sample.model_dump()
    assert (
        validate_sample(sample, catalog=trace.known_product_ids, forbidden_texts=done.forbidden_texts) == []
    )
    reflections = _reflections(done)
    assert len(reflections) == 2 and all(r.startswith(GOOD_OPENING) for r in reflections)
    for reflection, facts in zip(reflections, _facts_by_notes(trace).values(), strict=True):
        assert facts and all(f in reflection for f in facts)
    assert sample["meta"]["rewriter"] == "openai:rw" and sample["meta"]["rewrite_fallbacks"] == 0
    assert [r["status"] for r in sample["meta"]["rewrites"]] == ["rewritten", "rewritten"]
    assert again.sample.messages == done.sample.messages
    assert [r["cached"] for r in again.sample.meta["rewrites"]] == [True, True]
    prompt = server.chat_requests()[0].body["messages"][1]["content"]
    assert "<request>" in prompt and "Keep each of these facts verbatim" in prompt
    assert "supervisor" not in prompt.split("Rules:")[0].lower()
    cache.close()


def test_a_rewrite_that_drops_a_fact_is_retried_then_falls_back(recorded) -> None:
    trace = _trace(recorded)
    plan_notes = next(n for n in _facts_by_notes(trace) if n.startswith("Re-reading my plan"))

    def drop(notes: str, attempt: int) -> bool:
        # the plan reflection never keeps its first fact; the answer reflection only on the second attempt
        return notes == plan_notes or attempt == 1

    with ScriptedOpenAIServer(responder=_responder(trace, drop)) as server:
        done = _rewrite(trace, server, max_attempts=3)
        requests = server.chat_requests()
    assert len(requests) == 3 + 2
    retry = requests[1].body["messages"]
    assert retry[-1]["role"] == "user" and "these facts are missing" in retry[-1]["content"]
    plan, answer = done.sample.meta["rewrites"]
    assert plan["status"] == "fallback" and plan["attempts"] == 3
    assert "no usable rewrite after 3 attempt(s)" in plan["reason"] and "facts are missing" in plan["reason"]
    assert answer == {"message_index": answer["message_index"], "status": "rewritten", "attempts": 2,
                      "cached": False, "reason": None}  # fmt: skip
    assert done.sample.meta["rewrite_fallbacks"] == 1
    first, second = _reflections(done)
    assert first == plan_notes and second.startswith(GOOD_OPENING)
    sample = done.sample.model_dump()
    assert (
        validate_sample(sample, catalog=trace.known_product_ids, forbidden_texts=done.forbidden_texts) == []
    )


def test_endpoint_failures_and_leaks_fall_back_with_the_reason(recorded) -> None:
    trace = _trace(recorded)
    with ScriptedOpenAIServer([Reply.error(500, message="boom")] * 2) as server:
        done = _rewrite(trace, server)
    assert [r["reason"].split(":")[0] for r in done.sample.meta["rewrites"]] == ["llm_server_error"] * 2
    assert done.sample == internalize(trace).sample.model_copy(update={"meta": done.sample.meta})
    leak = Reply.text("The supervisor told me to fix it.")
    with ScriptedOpenAIServer([leak] * 4) as server:
        done = _rewrite(trace, server, max_attempts=2)
    reasons = [r["reason"] for r in done.sample.meta["rewrites"]]
    assert all("it mentions 'supervisor'" in r or "facts are missing" in r for r in reasons)
    assert "supervisor" not in json.dumps(done.sample.messages).lower()


def test_distill_command_with_the_llm_rewriter(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    app = typer.Typer()
    distill_cmd.register(app)
    app.command("noop")(lambda: None)
    trace = _trace(recorded)
    traces = [t for t in read_traces(path) if t.accepted]

    def respond(request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][1]["content"]
        for t in traces:
            for notes, facts in _facts_by_notes(t).items():
                if f"<notes>\n{notes}\n</notes>" in prompt:
                    return Reply.text(f"{GOOD_OPENING} " + " ".join(f"{f} counts." for f in facts))
        raise AssertionError("unknown notes")

    out = tmp_path / "train.jsonl"
    with ScriptedOpenAIServer(responder=respond) as server:
        args = ["distill", str(path), "--out", str(out), "--rewriter", "openai:rw"]
        args += ["--llm-set", f"base_url={server.base_url}", "--llm-set", "max_retries=0"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert len(server.chat_requests()) == 2 * len(traces)
        again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert again.exit_code == 0 and len(server.chat_requests()) == 2 * len(traces)
    assert "reflections rewritten (openai:rw)" in result.output
    assert "reflections from the rewrite cache" in again.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(traces) and (tmp_path / "rewrite_cache.sqlite").is_file()
    known = {pid for t in traces for pid in t.known_product_ids}
    for row in rows:
        assert validate_sample(row, catalog=known) == []
        assert row["meta"]["rewriter"] == "openai:rw" and row["meta"]["rewrite_fallbacks"] == 0
        assert any(GOOD_OPENING in (m.get("reasoning_content") or "") for m in row["messages"])
    assert trace.episode_id in {r["meta"]["episode_id"] for r in rows}
    bad = CliRunner().invoke(app, ["distill", str(path), "--out", str(out), "--rewriter", "gpt4"])
    assert bad.exit_code == 2 and "openai:MODEL" in bad.output


def _echo_responder(escape: bool) -> Callable:
    """What Gemma 3 270M did as a rewriter: reply with its own prompt (HTML-escaped when ``escape``)."""

    def respond(request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][1]["content"]
        text = prompt.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") if escape else prompt
        return Reply.text(text)

    return respond


def test_prompt_echoes_and_escaped_markup_fall_back_at_once(recorded) -> None:
    trace = _trace(recorded)
    for escape, reason in ((True, "markup_escaped:"), (False, "prompt_echo:")):
        with ScriptedOpenAIServer(responder=_echo_responder(escape)) as server:
            done = _rewrite(trace, server, max_attempts=3)
            assert len(server.chat_requests()) == 2  # not asked again
        records = done.sample.meta["rewrites"]
        assert [r["status"] for r in records] == ["fallback", "fallback"]
        assert all(r["reason"].startswith(reason) and r["attempts"] == 1 for r in records), records
        assert done.sample == internalize(trace).sample.model_copy(update={"meta": done.sample.meta})


def test_an_echo_of_the_instructions_without_tags_is_caught(recorded) -> None:
    trace = _trace(recorded)

    def respond(request: RecordedRequest) -> Reply:  # the rules and the request back, in the agent's voice
        prompt = request.body["messages"][1]["content"]
        request_text = prompt.split("<request>\n")[1].split("\n</request>")[0]
        rules = prompt.split("Rules:\n")[1].replace("- ", "")
        return Reply.text(f"I think {request_text} {rules}")

    with ScriptedOpenAIServer(responder=respond) as server:
        done = _rewrite(trace, server, max_attempts=3)
    reasons = [r["reason"] for r in done.sample.meta["rewrites"]]
    assert all(r.startswith("prompt_echo:") and "repeats its own prompt" in r for r in reasons), reasons


def test_echo_and_escape_checks() -> None:
    from harness.distill.rewrite import echo_problem, escape_problem

    prompt = (
        "The request the agent is working on: I need a stainless steel electric kettle under 50 dollars with "
        "an automatic shut off feature for my office kitchen. Rewrite the notes as the agent's reasoning."
    )
    own = "I compared the two kettles again and the cheaper one has no shut-off, so I pick the other one."
    assert echo_problem(own, prompt) is None
    quoting = (
        "I must keep 'stainless steel electric kettle under 50 dollars with an automatic shut off' in mind."
    )
    assert echo_problem(quoting, prompt) is not None  # the quote alone is most of the reply ...
    fact = "stainless steel electric kettle under 50 dollars with an automatic shut off"
    assert echo_problem(quoting, prompt, keep=[fact]) is None  # ... unless it is a fact the rewrite must keep
    assert "<notes>" in echo_problem("<notes> I re-checked </notes>", prompt)
    assert echo_problem("&lt;request&gt; kettle", prompt) is not None  # escaped tags are tags too
    assert escape_problem("a 5&quot; screen &amp; stand", 'a 5" screen & stand').startswith("markup_escaped")
    assert escape_problem("Black &amp; Decker kettle", "title: Black &amp; Decker kettle") is None
    assert escape_problem("price &#36;20", "price $20") is not None
    assert escape_problem("AT&T and a & b", "AT&T") is None  # a bare ampersand is not an escape
