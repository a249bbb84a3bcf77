"""Rejections alike are the endpoint's fault, not the samples': never store them as answers.

An OpenAI reasoning model answers ``max_tokens`` or ``temperature = 0`` with HTTP 400 on every request (on the
Responses API: ``temperature``, or ``reasoning.effort`` for a model without reasoning); a
LiteLLM gateway answers an unknown model or a bad key with 400 on every request, and its "budget exceeded"
to every request once a budget runs out, maybe after ten answers; a wrong base URL answers every request
with the same HTML page. Stored, each of those would be a sample "refused for good" and scored as wrong.

So a refusal that could be the endpoint's (``Outcome.rejection``: not a context overflow or a content
filter, which are facts about one sample) is held back while the same one keeps coming with no answer in
between. When :data:`MIN_ALIKE` requests in a row got it, a *control* is asked: a request the endpoint
answered before (in this run, or stored by an earlier one) is sent again. Refused too, the endpoint refuses
everything now: the run stops with one line quoting the server and none of the held refusals is stored, so
a rerun after the fix sends them. Answered, the refusals were the samples' own: they are handed on and that
refusal is never held again in this run. With no control yet (a new run's first requests), the first wave
(one request per concurrency slot, at least :data:`MIN_ALIKE`) goes out alone and decides: all of it
refused alike is a configuration error (with the endpoints.toml key to set); fewer than
:data:`MIN_ALIKE` refusals are never called the endpoint's fault (one content-filtered first prompt with
``--concurrency 1`` must not stop every rerun). A 2xx that is no completion is compared the same way
(it is retried, never stored as refused, but a run where every answer is a login page stops early).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .outcome import Action, Outcome, ServerError
from .request import Result

__all__ = ["Alike", "MIN_ALIKE", "signature", "config_hint"]

#: Fewer requests in a row refused alike are never taken for the endpoint's fault.
MIN_ALIKE = 3

_SAMPLING = ("temperature", "top_p", "seed")


def signature(error: ServerError) -> tuple[Any, ...]:
    """What makes two rejections the same: the field objected to, else the message itself (so refusals that
    differ by the token counts they quote are not alike)."""
    if error.param:
        return error.status, error.type, error.code, error.param
    return error.status, error.type, error.code, error.message


def _mentions(error: ServerError, *names: str) -> str | None:
    """The first of ``names`` the error objects to: its ``param`` when it names one, else its message."""
    if error.param in names:
        return error.param
    return next((name for name in names if name in error.message), None)


def config_hint(endpoint: Any, error: ServerError, api: str = "chat") -> str:
    """Which endpoints.toml key fixes ``error`` (``endpoint`` is a ``config.Endpoint``; ``api`` the wire the
    requests went over: the Responses API names its fields differently)."""
    where = f"[endpoints.{endpoint.name}] in {endpoint.source}"
    if endpoint.source == "<command line>":  # a URL endpoint: the key needs a table of its own
        where = f'an endpoints.toml table [endpoints.NAME] with base_url = "{endpoint.base_url}" (then --endpoint NAME)'
    if error.status < 300 and "larger than" in error.message:
        return f"check extra_body (log probabilities, several choices) in {where}, and what the server sends"
    if error.status < 300:
        return f"check that base_url is the server's OpenAI-compatible address (it usually ends in /v1) in {where}"
    responses = api == "responses"
    if responses and _mentions(error, "max_output_tokens") is not None:
        return (f'check the Responses API fields (max_output_tokens takes at least 16; reasoning_budget adds to '
                f'it), or set api = "chat" if this server has no /responses, in {where}')
    if not responses and (name := _mentions(error, "max_completion_tokens", "max_tokens")) is not None:
        other = "max_tokens" if name == "max_completion_tokens" else "max_completion_tokens"
        return (f'set max_tokens_field = "{other}" (and for an OpenAI reasoning model omit_sampling = true; '
                f'kind = "openai" sets both for o1/o3/o4/gpt-5 ids) in {where}')
    if _mentions(error, *_SAMPLING) is not None:
        return f'set omit_sampling = true (kind = "openai" sets it for o1/o3/o4/gpt-5 ids) in {where}'
    if _mentions(error, "reasoning_effort", "reasoning.effort") is not None:
        return f"remove reasoning_effort (or --reasoning-effort): this model does not take it ({where})"
    if (key := _mentions(error, *map(str, endpoint.extra_body))) is not None:
        return f"check extra_body key '{key}' in {where}"
    lowered = f"{error.type} {error.code} {error.message}".lower()
    if any(word in lowered for word in ("api key", "api_key", "auth", "no_db_connection", "credential")):
        return f"check the API key (api_key_env = {endpoint.api_key_env or 'not set'}, api_key_header) in {where}"
    if "model" in lowered:
        return f"check the model id (--model, or model in {where})"
    if responses:
        return f'check omit_sampling, reasoning_effort and extra_body (api = "responses") in {where}'
    return f"check max_tokens_field, omit_sampling and extra_body in {where}"


class Alike:
    """Admission gate for the first wave, and the breaker for refusals alike at any point of one run.

    The engine calls ``observe`` with every attempt's outcome, ``judge`` with the control's, ``settle`` with
    every final result (it returns those to hand on now) and ``flush`` when the run has no more to send.
    """

    def __init__(self, endpoint: Any, capacity: int, total: int, api: str = "chat") -> None:
        self.endpoint = endpoint
        self.api = api  # the wire's name: the config hint names that API's fields
        self.wave = min(total, max(capacity, MIN_ALIKE))
        self.stop: str | None = None  # the one-line reason, once the endpoint was found at fault
        self._admitted = 0
        self._open = asyncio.Event()
        if not self.wave:
            self._open.set()
        self._sig: tuple[Any, ...] | None = None  # the refusal of the current streak
        self._said: ServerError | None = None
        self._keys: set[str] = set()  # requests in the streak
        self._held: list[Result] = []
        self._released: list[Result] = []
        self._cleared: set[tuple[Any, ...]] = set()  # refusals a control showed to be the samples' own
        self._asked_at = 0  # streak length when the control was last asked

    async def admit(self) -> None:
        """Wait until a request may be sent: the first wave goes alone until it is judged."""
        if self._open.is_set():
            return
        if self._admitted < self.wave:
            self._admitted += 1
            return
        await self._open.wait()

    def observe(self, key: str, outcome: Outcome, has_control: bool) -> bool:
        """One attempt's outcome, in the order they come; True when the control should be asked now."""
        if outcome.action is Action.DONE:
            self._end_streak()
            self._open.set()
            return False
        said = outcome.rejection
        if said is None or self.stop is not None or (sig := signature(said)) in self._cleared:
            return False
        if sig != self._sig:
            self._end_streak()
            self._sig, self._said = sig, said
        self._keys.add(key)
        streak = len(self._keys)
        if has_control:
            if streak >= MIN_ALIKE and streak >= 2 * self._asked_at:  # asked again only as the streak doubles
                self._asked_at = streak
                self._open.clear()  # nothing new is sent while the control is out: it may refuse everything
                return True
        elif streak >= self.wave >= MIN_ALIKE:
            self._trip(f"endpoint '{self.endpoint.name}': all {streak} first request(s) got the same {self._kind()}, "
                       f"so the configuration is at fault, not the samples (none stored): {said}; "
                       f"fix: {config_hint(self.endpoint, said, self.api)}")
        return False

    def judge(self, control: Outcome) -> None:
        """The control's outcome: answered, the streak was the samples'; refused, the endpoint's."""
        if control.action is Action.DONE:
            if self._sig is not None:
                self._cleared.add(self._sig)
            self._end_streak()
            self._open.set()
        elif control.rejection is not None and self.stop is None and self._said is not None:
            self._trip(f"endpoint '{self.endpoint.name}' now gives every request the same {self._kind()}, even "
                       f"one it answered before ({len(self._keys)} in a row; none stored, rerun the same command "
                       f"once the cause is fixed): {control.rejection}")
        self._open.set()  # a control that failed otherwise judges nothing: sending goes on

    def settle(self, result: Result) -> list[Result]:
        """A final result in: the results to hand on now (a refusal of the streak is held, or dropped once the
        endpoint was found at fault)."""
        ready, self._released = self._released, []
        refusal = result.rejection
        if refusal is not None and result.key in self._keys and signature(refusal) == self._sig:
            if self.stop is None:
                self._held.append(result)
            return ready
        self._open.set()
        ready.append(result)
        return ready

    def flush(self) -> list[Result]:
        """Nothing more to send: a streak too short to judge is the samples' own; one a control could not
        judge (it failed for another reason) is dropped, so a rerun sends it again rather than score it."""
        ready, self._released = self._released, []
        if self.stop is None and len(self._keys) < MIN_ALIKE:
            ready.extend(self._held)
        self._held, self._keys, self._sig = [], set(), None
        return ready

    def _kind(self) -> str:
        return "HTTP 200 that is no chat completion" if self._said is not None and self._said.status < 300 else "rejection"

    def _end_streak(self) -> None:
        if self._held:
            self._released.extend(self._held)
            self._held = []
        if self._sig is not None:
            self._keys, self._sig, self._said, self._asked_at = set(), None, None, 0

    def _trip(self, reason: str) -> None:
        self.stop = reason
        self._held = []
        self._open.set()  # waiting workers wake up and see the run stopping
