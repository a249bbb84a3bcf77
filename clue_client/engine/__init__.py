"""Sending requests: the concurrent engine, the one classifier of HTTP outcomes, request/result types,
rate control (concurrency, requests/min, tokens/min) and replica routing. Knows nothing about tasks."""

from .._lazy import lazy_exports

_EXPORTS = {
    "Engine": "engine", "EngineStats": "engine", "Backoff": "retry", "RunAborted": "engine",
    "Action": "outcome", "Outcome": "outcome", "classify_status": "outcome", "parse_completion": "wire.chat",
    "Request": "request", "Result": "request", "PROTOCOL_VERSION": "request", "request_key": "request",
    "AdaptiveLimit": "ratelimit", "RateLimitPause": "ratelimit", "TokenBudget": "ratelimit",
    "Replica": "replicas", "ReplicaPool": "replicas", "Wire": "wire", "CHAT": "wire",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
