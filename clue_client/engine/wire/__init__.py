"""Wire formats: how one Request travels over one HTTP API and how that API's 2xx answer becomes an Outcome.

One module per API: ``chat`` (OpenAI chat completions, every OpenAI-compatible server); ``responses``
(OpenAI's Responses API: endpoint key ``api = "responses"``); ``completions`` (CLUE 2024's client-rendered raw
prompts: ``/v1/completions``, TGI's ``/generate``). The engine asks the wire for the URL, the body and the parse; it knows
nothing else about the API, and non-2xx answers stay with ``outcome.classify_status`` for every wire.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..outcome import Outcome
from ..request import Request
from .chat import CHAT
from .completions import COMPLETIONS, TGI_GENERATE, VLLM_COMPLETIONS
from .responses import RESPONSES

__all__ = ["Wire", "CHAT", "RESPONSES", "COMPLETIONS", "VLLM_COMPLETIONS", "TGI_GENERATE", "wire_for"]


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


#: Every wire by the name the endpoint key ``api`` and the manifest use (``VLLM_COMPLETIONS`` reads answers as
#: ``COMPLETIONS`` does).
WIRES: dict[str, Wire] = {w.name: w for w in (CHAT, RESPONSES, COMPLETIONS, TGI_GENERATE)}


def wire_for(api: str) -> Wire:
    """The wire of ``api`` ("chat", "responses"), as ``RequestRules.api`` names it."""
    return WIRES[api]
