"""Refusals alike are the endpoint's fault, never a sample's answer (engine/alike.py), over real loopback HTTP.

A gateway refusing everything once its budget ran out stops the run with the server's words and none of
those refusals comes out as a result; per-sample refusals stay per sample however they bunch up: context
overflows of long prompts in a row, a run of refusals a control request shows to be the samples' own, one
content-filtered first prompt with concurrency 1.
"""

from __future__ import annotations

import pytest

from clue_client.config import Endpoint
from clue_client.engine.alike import MIN_ALIKE
from clue_client.engine.engine import Backoff, Engine, RunAborted
from clue_client.engine.request import Request, Result

from fake_server import FakeServer, prompt_id

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)


def requests(n: int, words: int = 1, tag: str = "q") -> list[Request]:
    """``n`` requests; with ``words`` > 1, the i-th is ``i`` words longer than the first (long prompts differ)."""
    return [Request.build("m@alike", [{"role": "user", "content": f"{tag} {i} " + "word " * (words + i * (words > 1))}],
                          {"max_tokens": 8}) for i in range(n)]


def pid(request: Request) -> str:
    return prompt_id([dict(m) for m in request.messages])


async def collect(url: str, reqs: list[Request], results: list[Result], concurrency: int = 4,
                  control: Request | None = None) -> None:
    endpoint = Endpoint(name="gw", base_urls=(url,), max_concurrency=concurrency)
    async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
        async for result in engine.run(reqs, control=control):
            results.append(result)


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_budget_refusal_after_ten_answers_stops_the_run_and_comes_out_as_no_result(concurrency: int) -> None:
    results: list[Result] = []
    with FakeServer(refuse_after=10) as server:
        with pytest.raises(RunAborted) as stopped:
            await collect(server.base_url, requests(57), results, concurrency)
        sent = sum(server.requests.values())
    line = str(stopped.value)
    assert "now gives every request the same rejection, even one it answered before" in line
    assert "Budget has been exceeded! Current cost: 10.0021, Max budget: 10.0" in line and "none stored" in line
    assert [r.ok for r in results] == [True] * 10, "the ten answers, and not one refusal, came out"
    assert sent <= 10 + MIN_ALIKE + concurrency + 1, "stopped within a few requests of the first refusal"


async def test_context_overflows_in_a_row_stay_per_sample() -> None:
    """Long prompts come in runs (LongHealth): every overflow is the sample's own refusal, whatever its shape,
    including one whose words are not known as an overflow but differ by the token counts they quote."""
    long_ones = requests(24, words=300, tag="long")
    short = requests(4, tag="short")
    kinds = ("400ctx", "422ctx", "llama400ctx", "too-long")
    plan = {pid(r): kinds[i % len(kinds)] for i, r in enumerate(long_ones)}
    results: list[Result] = []
    with FakeServer(fault_for=lambda p, attempt: plan.get(p)) as server:
        await collect(server.base_url, [*long_ones, *short], results)
        sent = sum(server.requests.values())
    refused = [r for r in results if r.error is not None]
    assert len(refused) == 24 and not any(r.retryable for r in refused), "each stored as its sample's refusal"
    assert sum(r.ok for r in results) == 4 and sent == 28, "every request sent once, no control needed"


async def test_a_run_of_alike_refusals_a_control_shows_to_be_the_samples_own_is_kept_per_sample() -> None:
    reqs = requests(30)
    refused = {pid(r) for r in reqs[8:16]}  # eight in a row, answered ones before and after
    results: list[Result] = []
    with FakeServer(fault_for=lambda p, attempt: "litellm-model" if p in refused else None) as server:
        await collect(server.base_url, reqs, results, concurrency=1)
        sent = sum(server.requests.values())
    assert sum(r.error is not None and not r.retryable for r in results) == 8
    assert sum(r.ok for r in results) == 22 and len(results) == 30
    assert sent == 31, "one control request, then that refusal is never held again"


@pytest.mark.parametrize("fault", ["content-filter", "litellm-model"])
async def test_one_refused_first_prompt_with_concurrency_1_is_that_samples_refusal(fault: str) -> None:
    reqs = requests(6)
    first = pid(reqs[0])
    results: list[Result] = []
    with FakeServer(fault_for=lambda p, attempt: fault if p == first else None) as server:
        await collect(server.base_url, reqs, results, concurrency=1)
    refused = [r for r in results if r.error is not None]
    assert len(refused) == 1 and refused[0].key == reqs[0].key and not refused[0].retryable
    assert sum(r.ok for r in results) == 5


async def test_a_configuration_refusal_stops_after_a_few_requests_with_concurrency_1() -> None:
    results: list[Result] = []
    with FakeServer(fault_for=lambda p, attempt: "litellm-model") as server:
        with pytest.raises(RunAborted, match=f"all {MIN_ALIKE} first request"):
            await collect(server.base_url, requests(20), results, concurrency=1)
        assert sum(server.requests.values()) == MIN_ALIKE
    assert results == []


async def test_a_resumed_run_judges_its_first_refusals_by_an_answer_stored_before() -> None:
    """Three samples left, all refused alike: with the run's stored answer as control they are the samples' own
    (not a configuration error that would stop every rerun)."""
    done, left = requests(1, tag="done")[0], requests(3, tag="left")
    refused = {pid(r) for r in left}
    results: list[Result] = []
    with FakeServer(fault_for=lambda p, attempt: "litellm-model" if p in refused else None) as server:
        await collect(server.base_url, left, results, concurrency=3, control=done)
        assert server.requests[pid(done)] == 1, "the control was asked"
    assert len(results) == 3 and all(r.error and not r.retryable for r in results)
