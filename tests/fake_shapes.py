"""How real servers answer a thinking model, and hosted APIs' rejections, for ``fake_server.FakeServer``.

Each shape is taken from public documentation or from bodies quoted in public issue threads:

- ``vllm``: vLLM >= 0.11 with ``--reasoning-parser``: ``message.reasoning`` ("reasoning used to be called
  reasoning_content"), content after ``</think>`` (often starting with newlines), ``content: null`` when the
  output ends inside the thoughts. https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/
- ``llamacpp``: llama.cpp server with ``--reasoning-format deepseek`` (its default): ``reasoning_content``
  beside ``content``, ``content: ""`` when cut off (seen from the embedded xllamacpp server; the field is set
  in llama.cpp ``common/chat.cpp`` ``common_chat_msg::to_json_oaicompat``).
- ``openrouter``: ``message.reasoning_details`` entries of type ``reasoning.text`` (``text``),
  ``reasoning.summary`` (``summary``) and ``reasoning.encrypted`` (``data``, no text), and
  ``usage.completion_tokens_details.reasoning_tokens``.
  https://openrouter.ai/docs/guides/best-practices/reasoning-tokens (types as in @openrouter/ai-sdk-provider
  ``src/schemas/reasoning-details.ts``).
- ``openai-reasoning``: OpenAI o1/o3/o4-mini/gpt-5: no reasoning text; ``usage.completion_tokens_details``
  with ``reasoning_tokens`` (inside ``completion_tokens``); ``content: ""`` with ``finish_reason: "length"``
  when the limit is spent thinking (https://platform.openai.com/docs/guides/reasoning). Its 400 bodies as
  quoted in openai/openai-python#2046 (``max_tokens``: ``unsupported_parameter``) and QwenLM/qwen-code#921,
  microsoft/vscode#253673 (``temperature``: ``unsupported_value``).
- ``inline`` / ``inline-open``: a server without a reasoning parser: ``<think>...</think>`` inside content, or
  only ``</think>`` when the chat template opened the tag in the prompt (DeepSeek-R1's template;
  huggingface.co/deepseek-ai/DeepSeek-R1 discussion "Adding <think>\\n after chat template").
- ``quota``: OpenAI's 429 ``insufficient_quota`` (https://platform.openai.com/docs/guides/error-codes).
- ``litellm-model`` / ``litellm-key``: LiteLLM proxy: an unknown model is 400
  "Invalid model name passed in model=..." (BerriAI/litellm#9663, #3142), a non-master key on a proxy without
  a database 400 ``no_db_connection`` "No connected db." (BerriAI/litellm#20837).
- ``mistral``: Mistral's chat completions API answers ``content`` as a list of chunks: ``{"type": "text",
  "text": ...}``, and for its reasoning models (Magistral) a ``{"type": "thinking", "thinking": [text chunks]}``
  chunk before them (Mistral's OpenAPI spec, ``TextChunk`` and ``ThinkChunk``:
  https://docs.mistral.ai/capabilities/reasoning/; seen from magistral-medium-2509 in
  spring-projects/spring-ai#5020).
- Azure OpenAI: key in the ``api-key`` header, ``api-version`` query required, else 404 "Resource not found"
  (learn.microsoft.com/azure/ai-services/openai/reference).
- ``responses``: OpenAI's Responses API, ``POST /v1/responses``
  (https://platform.openai.com/docs/api-reference/responses/create and .../responses/object, fields as the openai
  SDK's ``openai.types.responses.Response`` types them): ``output`` items, a ``reasoning`` item (``summary`` of
  ``summary_text`` parts only when ``reasoning.summary`` was asked for) before the ``message`` item with
  ``output_text`` content; ``usage.input_tokens``/``output_tokens`` with
  ``output_tokens_details.reasoning_tokens``; ``status: "incomplete"``, ``incomplete_details.reason:
  "max_output_tokens"`` and no message at all when the limit ends the reasoning
  (https://platform.openai.com/docs/guides/reasoning, "Allocating space for reasoning"). Its 400s: ``max_tokens``
  or ``max_completion_tokens`` "Unsupported parameter: ... In the Responses API, this parameter has moved to
  'max_output_tokens'." (quoted in public repositories' notes); a reasoning model's ``temperature``
  "Unsupported parameter: 'temperature' is not supported with this model." (ThinkInAIXYZ/deepchat#655, o3 over
  the Responses API); ``reasoning.effort`` for a model without reasoning (BoundaryML/baml#2708); a
  ``max_output_tokens`` below its documented minimum of 16; a chat completion asked of a Responses-only model:
  404 "This model is only supported in v1/responses and not in v1/chat/completions." (continuedev/continue#5758).
"""

from __future__ import annotations

from typing import Any

SHAPES = ("plain", "vllm", "llamacpp", "openrouter", "openai-reasoning", "inline", "inline-open", "mistral")
ENCRYPTED = "gAAAAABo-fictional-encrypted-reasoning"


def default_thought(body: dict[str, Any]) -> str:
    """Thoughts that name every MedNLI label, as a thinking model's do: scoring them would score a hit."""
    return ("Weighing entailment, contradiction and neutral for this pair: the premise and the hypothesis "
            "are compared clause by clause before any answer is given.")


def openai_rejection(body: dict[str, Any]) -> dict[str, Any] | None:
    """The 400 body an OpenAI reasoning model sends for parameters it does not take, else None."""
    if "max_tokens" in body:
        return {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                                     "Use 'max_completion_tokens' instead.",
                          "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}
    for name in ("temperature", "top_p"):
        if name in body and body[name] != 1:
            return {"error": {"message": f"Unsupported value: '{name}' does not support {body[name]} with this "
                                         "model. Only the default (1) value is supported.",
                              "type": "invalid_request_error", "param": name, "code": "unsupported_value"}}
    return None


def message(shape: str, thought: str, answer: str, cut: bool) -> dict[str, Any]:
    """The assistant message of ``shape`` for a thought and an answer; ``cut``: the limit ended the thought."""
    if shape == "vllm":
        return {"role": "assistant", "content": None if cut else "\n\n" + answer, "reasoning": thought,
                "tool_calls": []}
    if shape == "llamacpp":
        return {"role": "assistant", "content": "" if cut else answer, "reasoning_content": thought}
    if shape == "openrouter":
        details = [{"type": "reasoning.text", "text": thought, "format": "unknown", "index": 0},
                   {"type": "reasoning.encrypted", "data": ENCRYPTED, "format": "unknown", "index": 1}]
        return {"role": "assistant", "content": None if cut else answer, "refusal": None, "reasoning": None,
                "reasoning_details": details}
    if shape == "openai-reasoning":
        return {"role": "assistant", "content": "" if cut else answer, "refusal": None, "annotations": []}
    if shape == "mistral":
        thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": thought}]}] if thought else []
        return {"role": "assistant", "tool_calls": None, "prefix": False,
                "content": thinking + ([] if cut else [{"type": "text", "text": answer}])}
    if shape == "inline":
        return {"role": "assistant", "content": "<think>\n" + thought + ("" if cut else "\n</think>\n\n" + answer)}
    if shape == "inline-open":
        return {"role": "assistant", "content": thought + ("" if cut else "\n</think>\n\n" + answer)}
    return {"role": "assistant", "content": answer}


def usage(shape: str, prompt: int, thought: int, answer: int) -> dict[str, Any]:
    """Usage as the shape reports it; reasoning tokens are part of completion_tokens everywhere."""
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": thought + answer,
                           "total_tokens": prompt + thought + answer}
    if shape in ("openai-reasoning", "openrouter"):
        out["completion_tokens_details"] = {"reasoning_tokens": thought, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        out["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    return out


QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing details. For more "
                              "information on this error, read the docs: "
                              "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                   "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
LITELLM_MODEL = {"error": {"message": "400: {'error': '/chat/completions: Invalid model name passed in model=MODEL. "
                                      "Call `/v1/models` to view available models for your key.'}",
                           "type": "invalid_request_error", "param": "None", "code": "400"}}
LITELLM_KEY = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": "None", "code": "400"}}
AZURE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
AZURE_BAD_KEY = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                                                     "endpoint. Make sure to provide a valid key for an active "
                                                     "subscription and use a correct regional API endpoint for your "
                                                     "resource."}}


RESPONSES_ONLY = {"error": {"message": "This model is only supported in v1/responses and not in v1/chat/completions.",
                            "type": "invalid_request_error", "param": "model", "code": None}}
RESPONSES_MIN_OUTPUT = 16


def _unsupported(message: str, param: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": "unsupported_parameter"}}


def responses_rejection(body: dict[str, Any], reasoning: bool) -> dict[str, Any] | None:
    """The 400 body the Responses API sends for a field it does not take (``reasoning``: a reasoning model)."""
    if "input" not in body:
        return {"error": {"message": "Missing required parameter: 'input'.", "type": "invalid_request_error",
                          "param": "input", "code": "missing_required_parameter"}}
    for name in ("max_tokens", "max_completion_tokens"):
        if name in body:
            return _unsupported(f"Unsupported parameter: '{name}'. In the Responses API, this parameter has moved to "
                                "'max_output_tokens'.", name)
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < RESPONSES_MIN_OUTPUT:
        return {"error": {"message": f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                                     f"{RESPONSES_MIN_OUTPUT}, but got {limit} instead.",
                          "type": "invalid_request_error", "param": "max_output_tokens", "code": "integer_below_min_value"}}
    for name in ("temperature", "top_p"):
        if reasoning and name in body:
            return _unsupported(f"Unsupported parameter: '{name}' is not supported with this model.", name)
    if not reasoning and (body.get("reasoning") or {}).get("effort") is not None:
        return _unsupported("Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                            "reasoning.effort")
    return None


def responses_overflow() -> dict[str, Any]:
    return {"error": {"message": "Your input exceeds the context window of this model. Please adjust your input and "
                                 "try again.", "type": "invalid_request_error", "param": "input",
                      "code": "context_length_exceeded"}}


def response(rid: str, body: dict[str, Any], thought: str, answer: str | None, incomplete: bool, prompt: int,
             thought_n: int, answer_n: int) -> dict[str, Any]:
    """A Responses API response object: ``answer`` None when no message was written (the limit ended the
    reasoning, or the model gave none); ``thought`` "" for a model without reasoning."""
    output: list[dict[str, Any]] = []
    asked = body.get("reasoning") or {}
    if thought:
        summary = [{"type": "summary_text", "text": thought}] if asked.get("summary") else []
        output.append({"id": f"rs_{rid}", "type": "reasoning", "summary": summary})
    if answer is not None:
        output.append({"id": f"msg_{rid}", "type": "message", "role": "assistant",
                       "status": "incomplete" if incomplete else "completed",
                       "content": [{"type": "output_text", "text": answer, "annotations": [], "logprobs": []}]})
    return {
        "id": f"resp_{rid}", "object": "response", "created_at": 1767225600, "model": body.get("model"),
        "status": "incomplete" if incomplete else "completed", "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "max_output_tokens": body.get("max_output_tokens"), "store": body.get("store", True),
        "reasoning": {"effort": asked.get("effort"), "summary": asked.get("summary")},
        "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
        "text": {"format": {"type": "text"}}, "truncation": "disabled", "metadata": {},
        "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens": thought_n + answer_n, "output_tokens_details": {"reasoning_tokens": thought_n},
                  "total_tokens": prompt + thought_n + answer_n},
    }
