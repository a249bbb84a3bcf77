"""What a server sends that is no plain answer, over real loopback HTTP: never followed, never a crash,
never scored as an answer the model gave.

Redirects (to another place or the same server, every 3xx a client could follow), 2xx bodies that are no
completion, JSON a parser chokes on, values of the wrong type, answers larger than max_tokens allows, and
Mistral's content parts (a real shape, joined).
"""

from __future__ import annotations

import json

import pytest

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine, RunAborted
from clue_client.engine.outcome import Action
from clue_client.engine.request import Request, Result
from clue_client.engine.transport import body_cap
from clue_client.engine.wire.chat import parse_completion

from fake_server import FakeServer, prompt_id

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)


def requests(n: int, max_tokens: int = 8, tag: str = "q") -> list[Request]:
    return [Request.build("m@hostile", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": max_tokens})
            for i in range(n)]


async def run_all(url: str, reqs: list[Request], **endpoint_kw: object) -> list[Result]:
    endpoint = Endpoint(name="t", base_urls=(url,), **{"max_concurrency": 4, "max_retries": 2, **endpoint_kw})  # type: ignore[arg-type]
    async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
        return [r async for r in engine.run(reqs)]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["another server", "the same server"])
async def test_a_redirect_is_never_followed_and_names_both_places(status: int, where: str) -> None:
    with FakeServer() as other, FakeServer() as server:
        # another host and port, or the route to a spelling of itself (a trailing slash) on the same server
        server.redirect_status = status
        server.redirect = f"{other.base_url if where == 'another server' else server.base_url}/chat/completions/"
        with pytest.raises(RunAborted) as stopped:
            await run_all(server.base_url, requests(6))
        assert other.calls == [] and other.gets == 0 and other.auth_headers == [], "nothing reached the other place"
        assert server.gets == 0, "a 301/302/303 never turned the POST into a GET"
    line = str(stopped.value)
    assert f"{server.base_url}/chat/completions answered HTTP {status}" in line and server.redirect in line
    assert ("(another place)" if where == "another server" else "(the same server)") in line
    assert "clue follows no redirect" in line and "\n" not in line


@pytest.mark.parametrize(("fault", "said"), [
    ("html200", "an HTML page: Sign in – Example SSO"),
    ("error200", "an error instead of an answer: HTTP 200 upstream_error: upstream model unavailable"),
    ("bytes200", "a body that is not JSON"),
    ("deep", "JSON nested too deep"),
])
async def test_a_200_that_is_no_completion_says_what_the_server_sent(fault: str, said: str) -> None:
    reqs = requests(12)
    unlucky = prompt_id([dict(m) for m in reqs[5].messages])
    with FakeServer(fault_for=lambda pid, attempt: fault if pid == unlucky else None) as server:
        results = await run_all(server.base_url, reqs)
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0].retryable, "one sample's odd answer: its own retryable error, not a refusal"
    assert said in failed[0].error and "HTTP 200 but not a chat completion" in failed[0].error
    assert failed[0].attempts == 2, "the same non-answer twice: that request gets no third try"


@pytest.mark.parametrize("fault", ["html200", "error200", "deep", "huge"])
async def test_when_every_answer_is_no_completion_the_run_stops_early(fault: str) -> None:
    with FakeServer(fault_for=lambda pid, attempt: fault) as server:
        with pytest.raises(RunAborted) as stopped:
            await run_all(server.base_url, requests(40))
        sent = sum(server.requests.values())
    assert "first request(s) got the same HTTP 200 that is no chat completion" in str(stopped.value)
    assert sent <= 4 * 2, "the first wave (4 requests, each twice at most) and no more"


@pytest.mark.parametrize("fault", ["huge", "huge-length"])
async def test_an_answer_larger_than_max_tokens_allows_is_a_per_request_error(fault: str) -> None:
    reqs = requests(6)
    big = prompt_id([dict(m) for m in reqs[2].messages])
    with FakeServer(fault_for=lambda pid, attempt: fault if pid == big else None) as server:
        results = {r.key: r for r in await run_all(server.base_url, reqs)}
    failed = results[reqs[2].key]
    assert not failed.ok and failed.retryable and f"larger than {body_cap(8):,} bytes" in failed.error
    assert sum(r.ok for r in results.values()) == 5


@pytest.mark.parametrize("fault", ["bigint", "inf", "surrogate", "usage-type", "finish-type"])
async def test_odd_values_in_an_answer_cost_the_odd_field_not_the_answer(fault: str) -> None:
    with FakeServer(fault_for=lambda pid, attempt: fault) as server:
        results = await run_all(server.base_url, requests(3))
    assert all(r.ok and r.text for r in results), [r.error for r in results]
    for result in results:
        result.text.encode("utf-8")  # storable: a lone surrogate became U+FFFD
        assert result.finish_reason is None or isinstance(result.finish_reason, str)
        for count in (result.prompt_tokens, result.completion_tokens, result.reasoning_tokens):
            assert count is None or (isinstance(count, int) and 0 <= count < 2**53)
    if fault == "surrogate":
        assert all(r.text.startswith("\ufffd lone surrogate") for r in results)
    if fault in ("bigint", "usage-type"):
        assert all(r.prompt_tokens is None for r in results)
    if fault == "inf":
        assert all(r.completion_tokens is None and r.reasoning_tokens is None and r.prompt_tokens for r in results)


def test_mistral_content_parts_are_the_answer_and_thinking_parts_the_reasoning() -> None:
    from fake_shapes import message

    body = {"choices": [{"index": 0, "finish_reason": "stop",
                         "message": message("mistral", "weigh the three labels", "NEUTRAL", False)}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4}}
    outcome = parse_completion(json.dumps(body).encode())
    assert outcome.action is Action.DONE
    assert outcome.payload["text"] == "NEUTRAL" and outcome.payload["reasoning"] == "weigh the three labels"


async def test_mistral_shaped_answers_are_scored_not_retried() -> None:
    with FakeServer(shape="mistral") as server:
        results = await run_all(server.base_url, requests(4, max_tokens=200))
        sent = sum(server.requests.values())
    assert sent == 4 and all(r.ok and r.text.startswith("ENTAILMENT") and r.reasoning for r in results)


@pytest.mark.parametrize(("status", "body", "per_sample"), [
    (400, {"object": "error", "message": "This model's maximum context length is 4096 tokens.", "code": 400}, True),
    (400, {"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum"}}, True),
    (400, {"error": {"message": "Input is too long for requested model."}}, True),
    (413, {"error": {"message": "Request Entity Too Large"}}, True),
    (400, {"error": {"message": "The response was filtered", "code": "content_filter"}}, True),
    (400, {"error": {"message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
                     "code": "invalid_prompt"}}, True),
    (400, {"error": {"message": "Budget has been exceeded! Current cost: 10.2, Max budget: 10.0",
                     "type": "budget_exceeded"}}, False),
    (400, {"error": {"message": "Invalid model name passed in model=gpt-x", "type": "invalid_request_error"}}, False),
    (402, {"error": {"message": "Insufficient credits"}}, False),
])
def test_what_is_the_samples_refusal_and_what_may_be_the_endpoints(status: int, body: dict, per_sample: bool) -> None:
    from clue_client.engine.outcome import classify_status

    outcome = classify_status(status, {}, json.dumps(body).encode())
    assert outcome.action is Action.RECORD, "a refusal for good either way"
    assert (outcome.rejection is None) is per_sample, "only a refusal that may be the endpoint's is judged alike"


@pytest.mark.parametrize("body", [
    b'{"error": {"message": "bad \\ud800 input", "type": "\\udc00x"}}',
    b'{"error": {"message": "' + b"[" * 100_000 + b'"}}',
    b"[" * 100_000,
    b'{"error": {"message": "count ' + b"9" * 5000 + b'"}}',
    b'{"error": {"message": ' + b"9" * 5000 + b"}}",
    bytes(range(256)),
])
def test_any_error_body_becomes_one_storable_line(body: bytes) -> None:
    from clue_client.engine.outcome import classify_status

    for sent in (body, body + b"\n\x1b[31mred\r\nX-Injected: 1"):
        outcome = classify_status(400, {}, sent)
        assert outcome.error is not None and outcome.error.startswith("HTTP 400") and len(outcome.error) < 400
        assert not any(c in outcome.error for c in "\n\r\x1b"), "one line, no terminal escapes"
        outcome.error.encode("utf-8")  # no lone surrogate reaches a store or a terminal
