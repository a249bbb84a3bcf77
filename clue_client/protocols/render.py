"""A model's chat template applied on the client: messages -> the raw prompt text CLUE 2024 sent.

CLUE 2024 rendered every prompt with ``tokenizer.apply_chat_template(chat, tokenize=False,
add_generation_prompt=True)`` and sent the text. This module renders the same Jinja template to the same
bytes with our own code on jinja2, in the environment Hugging Face templates are written for: a sandbox,
``trim_blocks`` and ``lstrip_blocks``, loop controls, ``raise_exception``, a ``tojson`` that keeps non-ASCII
text and HTML characters, ``strftime_now``, a ``{% generation %}`` block that renders its body, and the
tokenizer's special tokens (``bos_token``, ``eos_token``, ...) as variables. transformers is only the test
oracle (tests/protocols/test_render.py), never a dependency of this path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Mapping, Sequence

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import UserError

__all__ = ["ChatTemplate", "SPECIAL_TOKEN_NAMES", "special_tokens_of"]

#: The named special tokens a Hugging Face tokenizer passes to its chat template.
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def special_tokens_of(config: Mapping[str, Any]) -> dict[str, str]:
    """The named special tokens of a ``tokenizer_config.json`` (a string, or an added-token object)."""
    tokens = {}
    for name in SPECIAL_TOKEN_NAMES:
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            tokens[name] = value
    return tokens


class _GenerationBlock(Extension):
    """``{% generation %}...{% endgeneration %}`` marks assistant text for training masks; rendering keeps it."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body).set_lineno(lineno)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def _compiled(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols, _GenerationBlock])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    """A chat template's Jinja text, the special tokens it sees, and where both came from (for the manifest)."""

    source: str
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""

    @property
    def sha256(self) -> str:
        """Checksum of the template text: part of every request key built with it."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def check(self) -> "ChatTemplate":
        """The template itself, after making sure it compiles (a broken template is a user error, one line)."""
        try:
            _compiled(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(f"chat template from {self.origin or 'input'} does not compile: {exc.message} "
                            f"(line {exc.lineno})") from None
        return self

    def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text, as ``apply_chat_template(messages, tokenize=False, add_generation_prompt=...)``."""
        chat = [dict(m) for m in messages]
        try:
            return _compiled(self.source).render(messages=chat, tools=None, documents=None,
                                                 add_generation_prompt=add_generation_prompt, **self.special_tokens)
        except jinja2.TemplateError as exc:  # raise_exception(...) in the template, or a broken template
            raise UserError(f"chat template from {self.origin or 'input'} refused the prompt: {exc}") from None
