"""Servers: launching the embedded llama.cpp server (and its worker process) with the bundled model,
Docker TGI/vLLM/llama.cpp, and asking any server about itself (kind, context length, tokenizer)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "LocalServer": "local", "LocalServerSettings": "local", "local_server": "local", "wait_healthy": "local",
    "bundled_model_path": "bundled_model", "BUNDLED_MODEL_ALIAS": "bundled_model",
    "DockerServeSpec": "containers",
    "detect_kind": "introspect", "context_length": "introspect", "list_models": "introspect",
    "make_tokenizer": "introspect",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
