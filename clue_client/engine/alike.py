"""A rejection every one of the first requests gets alike is the configuration's fault, not the samples'.

An OpenAI reasoning model answers ``max_tokens`` or ``temperature = 0`` with HTTP 400 on every request (on the
Responses API: ``temperature``, or ``reasoning.effort`` for a model without reasoning); a
LiteLLM gateway answers an unknown model (``invalid_request_error``) or a bad key (``no_db_connection``)
with 400 on every request. Sending the whole run to store a thousand identical errors helps nobody, and a
stored error would be taken as final. So the first wave (one request per concurrency slot) goes out alone;
until one of them gets anything else, no further request is sent and their rejections are held back. When
all of them were rejected the same way (same status, type, code and parameter), the run stops with one
line naming the endpoints.toml key to set, and nothing of the wave is stored, so a rerun after the fix
sends them. A context overflow is never a configuration error (``outcome.is_context_overflow``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .outcome import ServerError
from .request import Result

__all__ = ["FirstWave", "signature", "config_hint"]

_SAMPLING = ("temperature", "top_p", "seed")


def signature(error: ServerError) -> tuple[Any, ...]:
    """What makes two rejections the same: the field objected to, else the message itself."""
    if error.param or error.code:
        return error.status, error.type, error.code, error.param
    return error.status, error.type, error.message


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


class FirstWave:
    """Admission gate and verdict over the first ``size`` requests of a run (one per concurrency slot)."""

    def __init__(self, endpoint: Any, size: int, api: str = "chat") -> None:
        self.endpoint = endpoint
        self.api = api
        self.size = max(1, size)
        self._sent = 0
        self._held: list[Result] = []
        self._decided = asyncio.Event()

    async def admit(self) -> bool:
        """Wait until a request may be sent; True when it belongs to the first wave."""
        if self._decided.is_set():
            return False
        if self._sent < self.size:
            self._sent += 1
            return True
        await self._decided.wait()
        return False

    def settle(self, result: Result) -> tuple[list[Result], str | None]:
        """A first-wave result in: the results to hand on now, and the one-line stop reason when the whole
        wave was rejected alike (its results are then dropped: never stored as final answers)."""
        rejection = result.rejection
        if self._decided.is_set() or rejection is None or (
                self._held and signature(rejection) != signature(self._held[0].rejection)):
            held, self._held = self._held, []
            self._decided.set()
            return [*held, result], None
        self._held.append(result)
        if len(self._held) < self.size:
            return [], None
        self._held = []
        self._decided.set()  # waiting workers wake up and see the run stopping
        return [], (f"endpoint '{self.endpoint.name}': all {self.size} first request(s) got the same rejection, "
                    f"so the configuration is at fault, not the samples (none stored): {rejection}; fix: "
                    f"{config_hint(self.endpoint, rejection, self.api)}")
