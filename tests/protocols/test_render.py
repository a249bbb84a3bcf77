"""Our chat-template renderer against transformers' ``apply_chat_template`` (the oracle): same template, same
messages, same special tokens, same bytes. Covers the Jinja environment Hugging Face templates rely on."""

from __future__ import annotations

import pytest

from chat_templates import GEMMA_STYLE, LLAMA3_STYLE, TEMPLATES, hf_tokenizer
from clue_client.errors import UserError
from clue_client.protocols.render import ChatTemplate, special_tokens_of

CHAT = [
    {"role": "system", "content": "You are careful. "},
    {"role": "user", "content": "  Café <b>&</b> \"quoted\"\n"},
    {"role": "assistant", "content": "Question: what? "},
    {"role": "user", "content": "Second {braces} and émigré"},
]

#: Templates that exercise the environment: tojson (non-ASCII, HTML characters, indent), loop controls,
#: namespace, the generation block, undefined and None variables, strftime_now, string methods.
FEATURES = {
    "tojson": "{% for m in messages %}{{ m | tojson }}|{{ m | tojson(indent=2) }}{% endfor %}",
    "loopcontrols": "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}"
                    "{% if m.role == 'system' %}{% continue %}{% endif %}[{{ m.content }}]{% endfor %}",
    "namespace": "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + m.content|length %}"
                 "{% endfor %}{{ ns.n }}",
    "generation": "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
                  "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}",
    "variables": "{{ bos_token }}|{{ sep_token }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}",
    "strftime": "{{ strftime_now('%Y') }}",
    "methods": "{% for m in messages %}{{ m.content.strip().upper() }}{{ m['role'].title() }}"
               "{% if m.content.startswith('Sec') %}!{% endif %}{% endfor %}",
    "whitespace": "  {% for m in messages %}\n    {% if m.role == 'user' %}\n{{ m.content }}\n    {% endif %}\n{% endfor %}\n",
}


CHATS = {"one user turn": CHAT[1:2], "system and user": CHAT[:2], "few-shot": CHAT, "no system": CHAT[1:]}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("generation_prompt", [True, False])
@pytest.mark.parametrize("chat", sorted(CHATS))
def test_model_styles_render_as_transformers_does(name: str, generation_prompt: bool, chat: str) -> None:
    template, tokens = TEMPLATES[name]
    expected = hf_tokenizer(template, tokens).apply_chat_template(CHATS[chat], tokenize=False,
                                                                  add_generation_prompt=generation_prompt)
    assert ChatTemplate(template, tokens).render(CHATS[chat], add_generation_prompt=generation_prompt) == expected


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_jinja_environment_matches_transformers(feature: str) -> None:
    template, tokens = FEATURES[feature], {"bos_token": "<s>", "eos_token": "</s>"}
    expected = hf_tokenizer(template, tokens).apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert ChatTemplate(template, tokens).render(CHAT) == expected
    assert expected  # every feature template renders something: an empty pair would prove nothing


def test_raise_exception_is_one_line_user_error() -> None:
    with pytest.raises(UserError) as caught:
        ChatTemplate(GEMMA_STYLE, {"bos_token": "<bos>"}, origin="gemma test").render(
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert "roles must alternate" in str(caught.value) and "\n" not in str(caught.value)


def test_a_template_that_does_not_compile_is_one_line_user_error() -> None:
    with pytest.raises(UserError, match=r"does not compile: .*\(line 1\)"):
        ChatTemplate("{% for m in messages %}", origin="FILE").check()


def test_sandbox_refuses_unsafe_attributes() -> None:
    with pytest.raises(Exception, match="unsafe|SecurityError|not safely"):
        ChatTemplate("{{ messages.__class__.__mro__ }}").render(CHAT)


def test_special_tokens_from_tokenizer_config() -> None:
    config = {"bos_token": {"content": "<|begin_of_text|>", "lstrip": False, "__type": "AddedToken"},
              "eos_token": "<|eot_id|>", "pad_token": None, "chat_template": LLAMA3_STYLE, "model_max_length": 8192}
    assert special_tokens_of(config) == {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}


def test_checksum_is_of_the_template_text() -> None:
    import hashlib

    assert ChatTemplate(LLAMA3_STYLE).sha256 == hashlib.sha256(LLAMA3_STYLE.encode()).hexdigest()
    assert ChatTemplate(LLAMA3_STYLE, {"bos_token": "x"}).sha256 == ChatTemplate(LLAMA3_STYLE).sha256
