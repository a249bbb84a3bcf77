"""Chat templates written for the tests in the style of two model families (our own text, not the models'),
and transformers tokenizers built offline that carry them: the oracle our renderer is checked against.

``LLAMA3_STYLE``: BOS text first, ``<|start_header_id|>role<|end_header_id|>`` headers, trimmed contents,
``<|eot_id|>`` after each turn. ``GEMMA_STYLE``: BOS text, the system turn folded into the first user turn,
``model`` for the assistant role, strict alternation enforced with ``raise_exception``; written over several
lines so ``trim_blocks``/``lstrip_blocks`` matter.
"""

from __future__ import annotations

from typing import Any

LLAMA3_STYLE = (
    "{{ bos_token }}{% for turn in messages %}"
    "{{ '<|start_header_id|>' + turn['role'] + '<|end_header_id|>\\n\\n' }}{{ turn['content'] | trim }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
LLAMA3_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}

GEMMA_STYLE = """{% if messages[0]['role'] == 'system' %}
    {% set prefix = messages[0]['content'] + '\n\n' %}
    {% set turns = messages[1:] %}
{% else %}
    {% set prefix = '' %}
    {% set turns = messages %}
{% endif %}
{{ bos_token }}{% for turn in turns %}
    {% if (turn['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('roles must alternate user/assistant') }}
    {% endif %}
<start_of_turn>{{ 'model' if turn['role'] == 'assistant' else turn['role'] }}
{{ (prefix if loop.first else '') + turn['content'] | trim }}<end_of_turn>
{% endfor %}
{% if add_generation_prompt %}
<start_of_turn>model
{% endif %}"""
GEMMA_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}

TEMPLATES = {"llama3": (LLAMA3_STYLE, LLAMA3_TOKENS), "gemma": (GEMMA_STYLE, GEMMA_TOKENS)}


def hf_tokenizer(template: str, special_tokens: dict[str, str]) -> Any:
    """A transformers fast tokenizer built offline (a word-level vocabulary of the special tokens) that
    carries ``template`` and ``special_tokens``, as ``AutoTokenizer.from_pretrained`` would give."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(dict.fromkeys(["<unk>", *special_tokens.values()]))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **{"unk_token": "<unk>", **special_tokens})
    tokenizer.chat_template = template
    return tokenizer
