"""Raw-prompt completions (CLUE 2024's client-rendered prompts): OpenAI ``/v1/completions`` and TGI ``/generate``.

The canonical body (``Request.body``: what the store records and the key hashes) names the prompt ``prompt``,
the answer budget ``max_tokens`` and CLUE 2024's truncation ``truncate`` (keep the last T prompt tokens, as
TGI's ``truncate`` does). Each wire says it in its server's words:

- ``/v1/completions`` (vLLM, SGLang, llama.cpp, TGI >= 2): vLLM's ``truncate_prompt_tokens`` keeps the last T
  tokens itself; where the server cannot, the client has cut the token ids (``Request.prompt_ids``,
  llama.cpp's own tokenizer) and sends them as the prompt. The answer is ``choices[0].text``.
- TGI ``/generate`` (``kind = "tgi"``): the JSON huggingface_hub 0.22.2's ``text_generation`` posted for CLUE
  2024 (CLUE_PROTOCOL_2024.md §3): greedy, ``return_full_text`` false, ``stop`` and ``truncate`` as given.
  The answer is ``generated_text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outcome import Outcome
from ..request import Request
from .reading import answer, read_answer, usage_of

__all__ = ["CompletionsWire", "TgiGenerateWire", "COMPLETIONS", "VLLM_COMPLETIONS", "TGI_GENERATE", "TRUNCATE"]

#: The canonical param: keep the last T prompt tokens.
TRUNCATE = "truncate"


@dataclass(frozen=True, slots=True)
class CompletionsWire:
    """``POST {base}/completions``. ``truncate_field``: the server's own name for ``truncate`` (vLLM:
    ``truncate_prompt_tokens``); None: the server cannot truncate, so the client cut ``prompt_ids``."""

    name: str = "completions"
    truncate_field: str | None = None

    def url(self, base_url: str) -> str:
        return f"{base_url}/completions"

    def body(self, request: Request, model: str) -> dict[str, Any]:
        body = request.body(model)
        kept = body.pop(TRUNCATE, None)
        if kept is not None and self.truncate_field is not None:
            body[self.truncate_field] = kept
        if request.prompt_ids is not None:
            body["prompt"] = list(request.prompt_ids)
        return body

    def parse(self, body: bytes) -> Outcome:
        return read_answer(body, "a completion", _completion_answer)


def _completion_answer(data: Any) -> Outcome:
    choice = data["choices"][0]
    text = choice["text"]
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    usage = usage_of(data)
    return answer(text, finish=choice.get("finish_reason"), prompt_tokens=usage.get("prompt_tokens"),
                  completion_tokens=usage.get("completion_tokens"), model=data.get("model"))


def _generation_answer(data: Any) -> Outcome:
    if isinstance(data, list):  # some TGI versions answer a one-element list
        data = data[0]
    text = data["generated_text"]
    if not isinstance(text, str):
        raise TypeError("generated_text is not a string")
    details = data.get("details")
    return answer(text, finish=details.get("finish_reason") if isinstance(details, dict) else None)


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


@dataclass(frozen=True, slots=True)
class TgiGenerateWire:
    """``POST {root}/generate`` with CLUE 2024's ``text_generation`` parameters."""

    name: str = "tgi-generate"

    def url(self, base_url: str) -> str:
        return f"{_server_root(base_url)}/generate"

    def body(self, request: Request, model: str) -> dict[str, Any]:
        params = request.params
        parameters = {
            "best_of": None, "decoder_input_details": False, "details": False, "do_sample": False,
            "max_new_tokens": request.max_tokens, "repetition_penalty": None, "return_full_text": False,
            "seed": params.get("seed"), "stop": list(params.get("stop") or []), "temperature": None, "top_k": None,
            "top_p": None, "truncate": params.get(TRUNCATE), "typical_p": None, "watermark": False,
        }
        return {"inputs": request.prompt, "parameters": parameters, "stream": False}

    def parse(self, body: bytes) -> Outcome:
        return read_answer(body, "a TGI generation", _generation_answer)


COMPLETIONS = CompletionsWire()
VLLM_COMPLETIONS = CompletionsWire(truncate_field="truncate_prompt_tokens")
TGI_GENERATE = TgiGenerateWire()
