"""What goes into a chat request's body besides the messages: one place for the parameter rules.

CLUE's ``max_tokens`` are answer budgets (MedNLI 20, LongHealth 50). A thinking model spends them on
thoughts, so ``reasoning_budget`` adds tokens to every limit. Hosted APIs differ in what they accept:
OpenAI's reasoning models (o1, o3, o4-mini, the gpt-5 family) reject ``max_tokens`` (they take
``max_completion_tokens``) and any temperature but their default, so with ``kind = "openai"`` and such a
model id both rules default to what that API takes. Everything built here is sent and is part of the
request key, so changing any of it never reuses an answer given under other rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["RequestRules", "request_rules", "is_openai_reasoning_model", "is_responses_only_model", "SERVER_DEFAULT",
           "RESPONSES_LIMIT"]

#: How the manifest and the results table name "no sampling parameters sent".
SERVER_DEFAULT = "server default"

#: The Responses API's name for the output limit (reasoning tokens included).
RESPONSES_LIMIT = "max_output_tokens"

_OPENAI_REASONING = re.compile(r"^(?:o\d+|gpt-5)(?:[-.:]|$)")
#: Models OpenAI serves on the Responses API only: its API reference names o1-pro, o3-pro, o3-deep-research,
#: o4-mini-deep-research, computer-use-preview, gpt-5-codex, gpt-5-pro, gpt-5.1-codex-max (``ResponsesOnlyModel``,
#: developers.openai.com/api/reference/resources/$shared; the openai SDK's ``ResponsesModel`` adds gpt-5.5-pro);
#: codex-mini-latest answers chat completions "404 This model is only supported in v1/responses"
#: (continuedev/continue#5758). Families, so later releases (gpt-5.2-pro, gpt-5.1-codex-mini) and dated
#: snapshots match too.
_RESPONSES_ONLY = re.compile(
    r"^(?:o\d+-pro|o\d+(?:-mini)?-deep-research|computer-use-preview|codex-mini(?:-latest)?"
    r"|gpt-5(?:\.\d+)?-(?:pro|codex(?:-mini|-max)?))(?:-\d{4}-\d{2}-\d{2})?$"
)


def _bare(model: str) -> str:
    return model.rsplit("/", 1)[-1].lower()


def is_openai_reasoning_model(model: str) -> bool:
    """o1, o3, o4-mini, gpt-5, gpt-5-mini, gpt-5.1, ... (a provider prefix such as ``openai/`` is ignored)."""
    return bool(_OPENAI_REASONING.match(_bare(model))) or is_responses_only_model(model)


def is_responses_only_model(model: str) -> bool:
    """o1-pro, o3-pro, gpt-5-pro, gpt-5-codex, codex-mini-latest, ...: OpenAI serves them on /v1/responses only
    (all of them reasoning models)."""
    return bool(_RESPONSES_ONLY.match(_bare(model)))


@dataclass(frozen=True, slots=True)
class RequestRules:
    """The body fields of every request of one run, except messages and model."""

    sampling: Mapping[str, Any] = field(default_factory=dict)  # empty when omit_sampling
    max_tokens_field: str = "max_tokens"
    omit_sampling: bool = False
    reasoning_budget: int = 0
    reasoning_effort: str | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    api: str = "chat"  # the HTTP API requests travel over (engine/wire): "chat" or "responses"

    def params(self, answer_tokens: int) -> dict[str, Any]:
        """Body fields for one request whose CLUE answer budget is ``answer_tokens``."""
        params: dict[str, Any] = {} if self.omit_sampling else dict(self.sampling)
        params[self.max_tokens_field] = int(answer_tokens) + self.reasoning_budget
        if self.reasoning_effort is not None and self.api == "responses":
            params["reasoning"] = {"effort": self.reasoning_effort}
        elif self.reasoning_effort is not None:
            params["reasoning_effort"] = self.reasoning_effort
        for name, value in self.extra_body.items():  # extra_body's reasoning = {summary = "auto"} joins the effort
            both = isinstance(value, Mapping) and isinstance(params.get(name), Mapping)
            params[name] = {**params[name], **value} if both else value
        return params

    def key_extra(self) -> dict[str, Any]:
        """Request key material beyond the body fields: the API, when it is not chat (chat keys unchanged)."""
        return {} if self.api == "chat" else {"api": self.api}

    @property
    def stochastic(self) -> bool:
        """Not known to be greedy: each sample is its own draw (the server's default may sample)."""
        return self.omit_sampling or float(self.sampling.get("temperature", 0.0)) > 0.0

    def manifest(self) -> dict[str, Any]:
        """How the manifest records these rules (``from_manifest`` reads them back for batch import)."""
        return {
            "sampling": SERVER_DEFAULT if self.omit_sampling else dict(self.sampling),
            "max_tokens_field": self.max_tokens_field,
            "reasoning_budget": self.reasoning_budget,
            "reasoning_effort": self.reasoning_effort,
            "extra_body": dict(self.extra_body),
            "api": self.api,
        }

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> "RequestRules":
        """Rules of a recorded run; a manifest older than these keys had plain sampling and ``max_tokens``."""
        sampling = manifest.get("sampling")
        omit = sampling == SERVER_DEFAULT
        return cls(
            sampling={} if omit else dict(sampling or {}),
            max_tokens_field=str(manifest.get("max_tokens_field") or "max_tokens"),
            omit_sampling=omit,
            reasoning_budget=int(manifest.get("reasoning_budget") or 0),
            reasoning_effort=manifest.get("reasoning_effort"),
            extra_body=dict(manifest.get("extra_body") or {}),
            api=str(manifest.get("api") or "chat"),
        )


def request_rules(endpoint: Any, model: str) -> RequestRules:
    """The rules for ``model`` on ``endpoint`` (a ``config.Endpoint``): its keys, else the API's defaults."""
    openai = endpoint.kind == "openai"
    api = endpoint.api or ("responses" if openai and is_responses_only_model(model) else "chat")
    openai_reasoning = openai and is_openai_reasoning_model(model)
    if api == "responses":
        field_name = RESPONSES_LIMIT
    else:
        field_name = endpoint.max_tokens_field or ("max_completion_tokens" if openai_reasoning else "max_tokens")
    omit = endpoint.omit_sampling if endpoint.omit_sampling is not None else openai_reasoning
    return RequestRules(
        sampling={} if omit else dict(endpoint.sampling),
        max_tokens_field=field_name,
        omit_sampling=omit,
        reasoning_budget=endpoint.reasoning_budget or 0,
        reasoning_effort=endpoint.reasoning_effort,
        extra_body=dict(endpoint.extra_body),
        api=api,
    )
