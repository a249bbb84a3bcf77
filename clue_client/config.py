"""endpoints.toml → validated, immutable Endpoint objects.

Validation happens here, where the data enters, and every failure is one line naming the file, the
endpoint and the key. Secrets never live in the file: ``api_key_env`` names an environment variable,
read only when the key is needed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

__all__ = ["Endpoint", "Sampling", "load_endpoints", "resolve_endpoint", "default_config_path", "is_url", "url_problem",
           "MAX_TEMPERATURE", "MAX_CONCURRENCY", "MAX_REASONING_BUDGET", "MAX_REQUESTS_PER_MINUTE", "MAX_TIMEOUT_S", "MAX_LIMIT",
           "PROTOCOL_BODY_KEYS", "identity_of", "header_problem"]

Kind = Literal["vllm", "tgi", "llamacpp", "openai", "generic"]
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]
Api = Literal["chat", "responses"]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

DEFAULT_SAMPLING: dict[str, Any] = {"temperature": 0.0, "top_p": 1.0}
TIMEOUT_BASE_S = 60.0  # the part of a request's default timeout that does not grow with its size

#: Bounds of settings the command line can also give: the file and the flags check the same numbers.
#: Temperature: what OpenAI-compatible servers accept.
MAX_TEMPERATURE = 2.0
MAX_CONCURRENCY = 4096  # requests in flight per server (the open-file limit may allow fewer: see clue run)
MAX_REASONING_BUDGET = 1_000_000  # tokens added to every answer budget
MAX_REQUESTS_PER_MINUTE = 1_000_000.0
MAX_TIMEOUT_S = 86_400.0  # a day for one request; more is a typo, and asyncio's timers overflow near 1e9 s
MAX_LIMIT = 1_000_000_000  # samples per task: far above any CLUE task, far below what polars' row index holds

#: Body fields the protocol itself sends (the input, the model, the answer budget, how the answer comes back)
#: or that other keys set where they are checked and recorded: ``extra_body`` may not replace them, since the
#: store, the manifest and the scores would then describe requests that were never sent. ``logprobs`` and
#: ``top_logprobs`` stay allowed: they add data beside the answer, the answer read is the same.
PROTOCOL_BODY_KEYS: dict[str, str] = {
    **dict.fromkeys(("messages", "prompt", "input", "inputs", "instructions", "suffix"), "it carries CLUE's prompt"),
    "model": "the model is --model or the endpoint's model key",
    **dict.fromkeys(("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "parameters"),
                    "it carries CLUE's answer budget (reasoning_budget adds to it; max_tokens_field names the field)"),
    **dict.fromkeys(("stream", "stream_options"), "answers are read whole, not streamed"),
    **dict.fromkeys(("n", "best_of"), "one answer per request is stored and scored"),
    "echo": "the prompt would come back inside the scored answer",
    **dict.fromkeys(("temperature", "top_p", "seed"), "set it in the endpoint's sampling table"),
    "reasoning_effort": "set the endpoint's reasoning_effort key",
}


class Sampling(BaseModel):
    """Sampling defaults sent with every request (CLUE's published numbers used greedy decoding)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
    temperature: float = Field(default=0.0, ge=0.0, le=MAX_TEMPERATURE)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None


class _EndpointModel(BaseModel):
    """Schema of one ``[endpoints.NAME]`` table; unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    base_url: str | None = None
    base_urls: list[str] | None = None
    model: str | None = None
    api_key_env: str | None = None
    kind: Kind = "generic"
    api: Api | None = None  # None: chat, or responses for a Responses-only OpenAI model (engine/hosted_rules.py)
    embedded: bool = False
    max_concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    requests_per_minute: float | None = Field(default=None, gt=0, le=MAX_REQUESTS_PER_MINUTE)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)  # None: scaled to each request's size
    max_retries: int = Field(default=6, ge=0, le=50)
    rate_limit_wait_s: float = Field(default=600.0, ge=0)
    context_length: int | None = Field(default=None, gt=0)
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    hosted: bool | None = None
    allow_credentialed_data: bool = False
    sampling: Sampling = Sampling()
    price_per_million_input: float | None = Field(default=None, ge=0)
    price_per_million_output: float | None = Field(default=None, ge=0)
    reasoning_budget: int | None = Field(default=None, ge=0, le=MAX_REASONING_BUDGET)
    reasoning_effort: ReasoningEffort | None = None
    max_tokens_field: MaxTokensField | None = None  # None: what the API takes (see engine/hosted_rules.py)
    omit_sampling: bool | None = None
    extra_headers: dict[str, str] = {}
    extra_body: dict[str, Any] = {}
    api_key_header: str | None = Field(default=None, min_length=1)
    query: dict[str, str] = {}
    template_opens_think: bool = False

    @field_validator("extra_body")
    @classmethod
    def _body_extras_only(cls, extra_body: dict[str, Any]) -> dict[str, Any]:
        if "${" in str(extra_body):
            raise ValueError("extra_body is stored with every request and may hold no ${VAR} secret; "
                             "put secrets in extra_headers or query")
        for key in extra_body:
            if key in PROTOCOL_BODY_KEYS:
                raise ValueError(f"extra_body may not set '{key}': {PROTOCOL_BODY_KEYS[key]}")
        return extra_body

    @model_validator(mode="after")
    def _responses_fields(self) -> "_EndpointModel":
        """What the Responses API has no field for, or must never get (``store`` stays false: data kept by
        the provider is what PhysioNet's agreement forbids)."""
        if self.api != "responses":
            return self
        if self.max_tokens_field is not None:
            raise ValueError("the Responses API has one output limit, max_output_tokens: leave max_tokens_field unset")
        if self.sampling.seed is not None:
            raise ValueError("the Responses API takes no seed: remove sampling.seed")
        if "store" in self.extra_body:
            raise ValueError("store is always sent as false on the Responses API (responses are kept otherwise)")
        return self

    @model_validator(mode="after")
    def _one_url_source(self) -> "_EndpointModel":
        if self.base_url and self.base_urls:
            raise ValueError("give base_url or base_urls, not both")
        if not (self.base_url or self.base_urls or self.embedded):
            raise ValueError("needs base_url (or base_urls, or embedded = true)")
        for url in self.urls():
            if (problem := url_problem(url)) is not None:
                raise ValueError(problem)
        return self

    def urls(self) -> list[str]:
        return list(self.base_urls or ([self.base_url] if self.base_url else []))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named, validated endpoint. ``base_urls`` has one entry per replica."""

    name: str
    base_urls: tuple[str, ...]
    model: str | None = None
    api_key_env: str | None = None
    kind: Kind = "generic"
    api: str | None = None  # "chat" | "responses"; None: chat unless the model exists only on the Responses API
    embedded: bool = False
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: int | None = None
    timeout_s: float | None = None  # per request; None: the engine scales it to the request's max_tokens
    max_retries: int = 6  # retries of failures; 429s are waited out on the rate_limit_wait_s budget instead
    rate_limit_wait_s: float = 600.0
    context_length: int | None = None
    #: default ``--limit`` of runs on this endpoint (the embedded model's quick start); --limit overrides
    limit: int | None = None
    hosted: bool = True
    allow_credentialed_data: bool = False
    sampling: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SAMPLING))
    price_per_million_input: float | None = None
    price_per_million_output: float | None = None
    reasoning_budget: int | None = None
    reasoning_effort: str | None = None
    max_tokens_field: str | None = None
    omit_sampling: bool | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)  # values may hold ${VAR}: secrets
    extra_body: dict[str, Any] = field(default_factory=dict)
    api_key_header: str | None = None  # None: "Authorization: Bearer KEY"; e.g. "api-key" (Azure): the bare key
    query: dict[str, str] = field(default_factory=dict)  # added to every URL; values may hold ${VAR}
    template_opens_think: bool = False  # the chat template opens <think> (no reasoning parser on the server)
    source: str = "<command line>"

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    def identity(self, model: str) -> str:
        """What makes answers comparable: the served model and the set of servers (not which replica).

        An embedded server gets a new port each run, so its identity is the model alone.
        """
        return identity_of(model, self.base_urls, self.embedded)

    def api_key(self) -> str | None:
        """The key from the named environment variable; a missing variable is a config error."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"{self.source}: endpoint '{self.name}': api_key_env: environment variable "
                f"{self.api_key_env} is not set"
            )
        return value

    def request_timeout_s(self, max_tokens: int | None = None, prompt_tokens: int = 0) -> float:
        """Seconds one request may take: ``timeout_s`` when set, else scaled to the request's size.

        A minute (connecting, queueing) plus what a slow server needs: 100 prompt tokens/s to read, 4 tokens/s
        to write ``max_tokens``. A stalled server then costs about 65 s a try on a 20-token task instead of
        one 300 s for all, and a 512-token summary still gets 190 s.
        """
        if self.timeout_s is not None:
            return self.timeout_s
        return TIMEOUT_BASE_S + prompt_tokens / 100 + (max_tokens or 0) / 4

    def _resolve(self, key: str, value: str) -> str:
        """``${VAR}`` references replaced from the environment; a missing variable is a config error."""

        def lookup(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1))
            if not found:
                raise ConfigError(f"{self.source}: endpoint '{self.name}': {key}: environment variable "
                                  f"{match.group(1)} is not set")
            return found

        return _ENV_REF.sub(lookup, value)

    def headers(self) -> dict[str, str]:
        """Every header an HTTP call to this endpoint carries: the key (Bearer, or ``api_key_header``) and
        ``extra_headers`` with their ``${VAR}`` resolved, each checked against what HTTP allows (a key read
        from a file with its newline would otherwise fail as "cannot reach"). Never logged or stored."""
        headers = {}
        for name, value in self.extra_headers.items():
            headers[name] = self._resolve(f"extra_headers.{name}", value)
            if (problem := header_problem(name, headers[name])) is not None:
                raise ConfigError(f"{self.source}: endpoint '{self.name}': extra_headers.{name}: {problem}")
        if (key := self.api_key()) is not None:
            name = self.api_key_header or "Authorization"
            if (problem := header_problem(name, key)) is not None:
                raise ConfigError(f"{self.source}: endpoint '{self.name}': the API key in environment variable "
                                  f"{self.api_key_env} (api_key_env) cannot be sent: {problem}")
            headers[name] = key if self.api_key_header else f"Bearer {key}"
        return headers

    def query_params(self) -> dict[str, str]:
        """Query parameters added to every URL (Azure's ``api-version``), ``${VAR}`` resolved."""
        return {name: self._resolve(f"query.{name}", value) for name, value in self.query.items()}

    def secrets(self) -> list[str]:
        """Every secret value this endpoint sends: the API key and each resolved ``${VAR}`` of
        ``extra_headers`` and ``query`` (whole value and the variable's own value), for redaction."""
        found: list[str] = []
        if self.api_key_env and (key := os.environ.get(self.api_key_env)):
            found.append(key)
        for where, table in (("extra_headers", self.extra_headers), ("query", self.query)):
            for name, value in table.items():
                refs = _ENV_REF.findall(value)
                if not refs:
                    continue
                found += [os.environ[ref] for ref in refs if os.environ.get(ref)]
                if all(os.environ.get(ref) for ref in refs):
                    found.append(self._resolve(f"{where}.{name}", value))
        return sorted(set(found), key=len, reverse=True)
    def redact(self, text: str) -> str:
        """``text`` without this endpoint's secrets: some servers quote the key they refused."""
        from .redact import Redactor

        return Redactor.of(self.secrets()).text(text)

    def with_overrides(self, **changes: Any) -> "Endpoint":
        """Command line over file: only values actually given replace the file's."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def prices(self) -> dict[str, float] | None:
        if self.price_per_million_input is None and self.price_per_million_output is None:
            return None
        return {
            "input_per_million": self.price_per_million_input or 0.0,
            "output_per_million": self.price_per_million_output or 0.0,
        }


def identity_of(model: str, base_urls: "tuple[str, ...] | list[str]", embedded: bool) -> str:
    """``Endpoint.identity`` from its parts (a run folder's manifest records them)."""
    where = "embedded" if embedded else ",".join(sorted(base_urls))
    return f"{model}@{where}"


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CHARACTER_NAMES = {"\n": "a line break (\\n)", "\r": "a carriage return (\\r)", "\x00": "a NUL byte",
                    "\t": "a tab"}


def header_problem(name: str, value: str) -> str | None:
    """Why HTTP cannot carry the header ``name: value``, or None. The value is never quoted (it may be a key):
    the line names the character and where it sits (a trailing newline is a key read from a file)."""
    if not _HEADER_NAME.fullmatch(name):
        return f"'{name}' is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    for position, char in enumerate(value):
        if (" " <= char <= "~") or (char == "\t" and 0 < position < len(value) - 1):
            continue
        what = _CHARACTER_NAMES.get(char) or (f"the non-ASCII character U+{ord(char):04X}" if ord(char) > 127
                                               else f"the control character U+{ord(char):04X}")
        where = "at its end" if value[position:].strip() == "" else ("at its start" if not value[:position].strip()
                                                                     else f"at position {position + 1}")
        return f"its value holds {what} {where}, which an HTTP header cannot carry; remove it"
    return None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server address (not http(s), no host, a bad IP, port outside 1-65535, a user
    name or password, a query), or None. A URL carrying credentials is never repeated in the message."""
    if _USERINFO.match(url):
        shown = _USERINFO.sub(r"\1", url.split("?")[0].split("#")[0])
        return (f"the URL for {shown} holds a user name or password, which would be stored and shown with every "
                "result; give the key with api_key_env (or a header in extra_headers) instead")
    if "?" in url or "#" in url:
        shown = url.split("?")[0].split("#")[0]
        return (f"'{shown}' has a query or fragment; a base URL takes none (put parameters in the endpoint's "
                "query table, values may be ${VAR})")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        return f"'{url}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{url}' is not an http(s) URL"
    if parts.hostname.replace(".", "").isdigit():  # looks like IPv4: must be one
        try:
            ipaddress.IPv4Address(parts.hostname)
        except ValueError:
            return f"'{url}' has an invalid IPv4 address"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return f"'{url}' has an invalid port (expected a number from 1 to 65535)"
    return None


def normalize_base_url(url: str) -> str:
    """Accept ``http://host:8000`` as well as ``http://host:8000/v1``; no trailing slash."""
    url = url.rstrip("/")
    return url if urlsplit(url).path else url + "/v1"


def is_private_host(url: str) -> bool:
    """Loopback and private addresses count as self-hosted; any other host is treated as hosted."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def default_config_path() -> Path:
    """``./endpoints.toml`` when present, else the copy shipped with the package."""
    local = Path("endpoints.toml")
    if local.is_file():
        return local
    shipped = Path(__file__).with_name("endpoints.toml")
    if shipped.is_file():
        return shipped
    return Path(__file__).resolve().parent.parent / "endpoints.toml"


def _format_validation_error(path: Path, name: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(table)"
    if first["type"] == "extra_forbidden":
        return f"{path}: endpoint '{name}': unknown key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: endpoint '{name}': key '{key}': {message}"


def _endpoint_from_table(path: Path, name: str, table: Any) -> Endpoint:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: endpoint '{name}': must be a table")
    try:
        parsed = _EndpointModel.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, name, exc)) from None
    urls = tuple(normalize_base_url(u) for u in parsed.urls())
    hosted = parsed.hosted if parsed.hosted is not None else not all(is_private_host(u) for u in urls)
    if parsed.embedded:
        hosted = False
    fields = parsed.model_dump(exclude={"base_url", "base_urls", "hosted", "sampling"})
    return Endpoint(name=name, base_urls=urls, hosted=hosted, sampling=parsed.sampling.model_dump(exclude_none=True),
                    source=str(path), **fields)


def load_endpoints(path: Path | None = None) -> dict[str, Endpoint]:
    """Read and validate every endpoint in the file."""
    path = path or default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    except ValueError as exc:  # an integer longer than Python's digit limit
        raise ConfigError(f"{path}: invalid TOML: {str(exc).split(';')[0]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    unknown = set(raw) - {"endpoints"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key '{sorted(unknown)[0]}' (expected [endpoints.NAME] tables)")
    tables = raw.get("endpoints", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'endpoints' must be a table of [endpoints.NAME] tables")
    return {name: _endpoint_from_table(path, name, table) for name, table in tables.items()}


def resolve_endpoint(name_or_url: str, config_path: Path | None = None) -> Endpoint:
    """A configured endpoint by name, or an ad-hoc one from a URL (hosted unless loopback/private)."""
    if is_url(name_or_url):
        if (problem := url_problem(name_or_url)) is not None:
            raise ConfigError(f"--endpoint: {problem}")
        url = normalize_base_url(name_or_url)
        return Endpoint(name=url, base_urls=(url,), hosted=not is_private_host(url))
    endpoints = load_endpoints(config_path)
    if name_or_url not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        where = config_path or default_config_path()
        raise ConfigError(f"{where}: no endpoint named '{name_or_url}' (known: {known}; or pass a URL)")
    return endpoints[name_or_url]
