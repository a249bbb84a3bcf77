"""Wire formats: how one Request travels over one HTTP API and how that API's 2xx answer becomes an Outcome.

One module per API: ``chat`` (OpenAI chat completions, every OpenAI-compatible server); ``completions``
(CLUE 2024's client-rendered raw prompts: ``/v1/completions``, TGI's ``/generate``). OpenAI's Responses API
adds a module. The engine asks the wire for the URL, the body and the parse; it knows
nothing else about the API, and non-2xx answers stay with ``outcome.classify_status`` for every wire.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..outcome import Outcome
from ..request import Request
from .chat import CHAT
from .completions import COMPLETIONS, TGI_GENERATE, VLLM_COMPLETIONS

__all__ = ["Wire", "CHAT", "COMPLETIONS", "VLLM_COMPLETIONS", "TGI_GENERATE"]


class Wire(Protocol):
    """One HTTP API for requests: where to POST, what to send, how to read a 2xx body."""

    #: short name, recorded in the manifest ("chat", ...)
    name: str

    def url(self, base_url: str) -> str:
        """The POST URL for a replica whose base URL (``.../v1``) is ``base_url``."""
        ...

    def body(self, request: Request, model: str) -> dict[str, Any]:
        """The JSON body for ``request`` sent to ``model``."""
        ...

    def parse(self, body: bytes) -> Outcome:
        """A 2xx body as DONE with the answer payload, or RETRY when it is not an answer."""
        ...
