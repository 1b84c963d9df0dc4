"""The LLM endpoint of a run: the ``[litellm]`` section without Docker (CLI.md §3.3).

:func:`open_endpoint` turns the section into an OpenAI-compatible base URL for the assistants, in one
of three modes:

1. ``scripted = "<file>.toml"`` (ours): a :class:`~wasmind.llm.scripted.ScriptedLLM` replaying that
   script, started in-process. Canned answers, no model: the offline demo and the tests.
2. ``base_url = "<url>"``: an endpoint used as-is (checked for reachability, nothing started).
3. ``[[litellm.models]]`` without ``base_url``: the LiteLLM proxy started as a local child process
   on ``127.0.0.1:<port>`` with the generated ``model_list`` and stopped on exit.

The local proxy refuses to start without a master key, so one is generated when neither the
environment nor ``env_overrides`` gives ``LITELLM_MASTER_KEY``; callers must send it as
``Authorization: Bearer <key>``: it is :attr:`LLMEndpoint.api_key`, which ``wasmind run`` is to pass
on to the actors.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wasmind.config.user import UserConfig
from wasmind.llm.scripted import ScriptedLLM, ScriptError
from wasmind.processes import die_with_parent

__all__ = [
    "NOT_INSTALLED",
    "NO_MODELS",
    "PASS_THROUGH_ENV",
    "SECTION_REQUIRED",
    "EndpointError",
    "LLMEndpoint",
    "LiteLLMModel",
    "LiteLLMSection",
    "describe_llm",
    "find_litellm",
    "litellm_config",
    "litellm_config_text",
    "litellm_environment",
    "open_endpoint",
    "scripted_banner",
]

log = structlog.get_logger("wasmind.llm")

SECTION_REQUIRED = "LiteLLM configuration section is required"
NO_MODELS = "No LiteLLM models configured - LiteLLM section is required"
NOT_INSTALLED = "LiteLLM is not installed: install the litellm proxy package or set [litellm].base_url"

PASS_THROUGH_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_API_BASE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEX_AI_PROJECT_ID",
    "VERTEX_AI_LOCATION",
    "AZURE_API_KEY",
    "AZURE_API_BASE",
    "AZURE_API_VERSION",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "COHERE_API_KEY",
    "DEEPSEEK_API_KEY",
    "GROQ_API_KEY",
    "TOGETHER_API_KEY",
    "REPLICATE_API_TOKEN",
    "HUGGINGFACE_API_KEY",
    "HF_TOKEN",
    "MISTRAL_API_KEY",
    "PERPLEXITYAI_API_KEY",
    "CLAUDE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_PROFILE",
    "OLLAMA_API_BASE",
    "LITELLM_MASTER_KEY",
    "LITELLM_SALT_KEY",
    "LITELLM_LOG_LEVEL",
    "CEREBRAS_API_KEY",
    "OPENROUTER_API_KEY",
)
"""Variables passed from our environment to the proxy when set (CLI.md §3.2)."""

PROCESS_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
"""Variables a local process needs to run at all (the container of the original had its own)."""

PROXY_DEFAULT_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
"""Defaults for the proxy (``env_overrides`` wins): use the bundled cost map, no download at start."""

Report = Callable[[str], None]
Mode = Literal["scripted", "base_url", "local", "none"]


class EndpointError(Exception):
    """The LLM endpoint cannot be used; the message is for the user (CLI.md §3.3 texts)."""


class LiteLLMModel(BaseModel):
    """One ``[[litellm.models]]`` entry; keys besides these two go to LiteLLM's ``model_list`` as-is."""

    model_config = ConfigDict(extra="allow", strict=True)
    model_name: str = Field(min_length=1, description="the name agents ask for")
    litellm_params: dict[str, Any] = Field(
        default_factory=dict, description='LiteLLM\'s parameters: model = "provider/name", api_key = ...'
    )


class LiteLLMSection(BaseModel):
    """``[litellm]``: where the assistants' LLM is (CLI.md §3.3, ours: no Docker)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    base_url: str | None = Field(
        default=None, description="an OpenAI-compatible endpoint used as-is (a trailing /v1 is dropped)"
    )
    models: list[LiteLLMModel] = Field(
        default_factory=list, description="model list; without base_url, a local LiteLLM proxy serves it"
    )
    port: int = Field(default=4000, ge=0, le=65535, description="port of the local proxy (0: any free port)")
    env_overrides: dict[str, str] = Field(default_factory=dict, description="extra environment for the proxy")
    health_check: bool = Field(default=True, description="check the endpoint before starting agents")
    image: str | None = Field(default=None, description="ignored (the original's Docker image)")
    container_name: str | None = Field(default=None, description="ignored (the original's Docker container)")
    scripted: str | None = Field(
        default=None,
        description="ours: a TOML script for the scripted LLM (canned answers, no model), "
        "relative to the config file",
    )

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {value!r}")
        return url.removesuffix("/v1")

    @property
    def mode(self) -> Mode:
        """Which endpoint this section gives: ``scripted``, ``base_url``, ``local`` or ``none``."""
        if self.scripted is not None:
            return "scripted"
        if self.base_url is not None:
            return "base_url"
        return "local" if self.models else "none"

    def ignored(self) -> list[str]:
        """Warnings for the keys this section has but its mode does not use."""
        notes = [
            f"[litellm].{key} is ignored: Wasmind starts no Docker container (CLI.md §3.3)"
            for key in ("image", "container_name")
            if getattr(self, key) is not None
        ]
        if self.mode == "scripted" and (self.base_url is not None or self.models):
            notes.append(
                "[litellm].base_url and [litellm].models are ignored while [litellm].scripted is set"
            )
        return notes

    def model_names(self) -> list[str]:
        """The configured model names, in config order."""
        return [model.model_name for model in self.models]


@dataclass
class LLMEndpoint:
    """What the assistants are told (``BaseUrlUpdate``) and what the user is shown.

    ``api_key`` is the local proxy's master key (``None`` otherwise): requests to ``base_url`` need
    ``Authorization: Bearer <api_key>``.
    """

    base_url: str
    models_available: list[str]
    description: str
    mode: Mode = "base_url"
    api_key: str | None = None


def describe_llm(user: UserConfig) -> str:
    """One line for ``wasmind check``: the endpoint mode a run would use.

    Raises:
        ConfigError: the ``[litellm]`` section is invalid.
    """
    section = user.section("litellm", LiteLLMSection)
    if section is None:
        return "none (no [litellm] section: agents get no LLM endpoint)"
    ignored = [key for key in ("image", "container_name") if getattr(section, key) is not None]
    suffix = f" (ignored: {', '.join(ignored)})" if ignored else ""
    names = ", ".join(section.model_names())
    match section.mode:
        case "scripted":
            return f"scripted (canned answers, no model): {section.scripted}{suffix}"
        case "base_url":
            models = f"models: {names}" if names else f"models: from {section.base_url}/v1/models"
            return f"base_url {section.base_url} ({models}){suffix}"
        case "local":
            port = section.port or "any free port"
            return f"local LiteLLM proxy on 127.0.0.1:{port} with models: {names}{suffix}"
        case _:
            return f"✗ {NO_MODELS}{suffix}"


def litellm_config(section: LiteLLMSection) -> dict[str, Any]:
    """LiteLLM's configuration: ``model_list`` with each model's name, parameters and extra keys.

    Raises:
        EndpointError: no models (``Failed to create config file: No models configured``).
    """
    if not section.models:
        raise EndpointError("Failed to create config file: No models configured")
    return {
        "model_list": [
            {"model_name": m.model_name, "litellm_params": dict(m.litellm_params), **(m.model_extra or {})}
            for m in section.models
        ]
    }


def litellm_config_text(section: LiteLLMSection) -> str:
    """The YAML file LiteLLM reads, written as JSON (JSON is YAML, and needs no YAML library)."""
    return json.dumps(litellm_config(section), indent=2) + "\n"


def litellm_environment(section: LiteLLMSection, environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy's environment: what a process needs, the pass-through list (CLI.md §3.2), then
    our defaults, then ``env_overrides``. No master key is invented here (see :func:`open_endpoint`).
    """
    env = {name: environ[name] for name in (*PROCESS_ENV, *PASS_THROUGH_ENV) if name in environ}
    env.update(PROXY_DEFAULT_ENV)
    env.update(section.env_overrides)
    return env


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_litellm(environ: Mapping[str, str] | None = None) -> Path:
    """The ``litellm`` executable: ``$WASMIND_LITELLM``, else next to our Python, else on ``PATH``.

    Raises:
        EndpointError: none found (:data:`NOT_INSTALLED`).
    """
    environ = os.environ if environ is None else environ
    override = environ.get("WASMIND_LITELLM")
    if override:
        if _executable(Path(override)):
            return Path(override)
        log.warning("WASMIND_LITELLM is not an executable file; looking elsewhere", path=override)
    beside = Path(sys.executable).parent / "litellm"
    if _executable(beside):
        return beside
    found = shutil.which("litellm", path=environ.get("PATH", ""))
    if found:
        return Path(found)
    raise EndpointError(NOT_INSTALLED)


def scripted_banner(endpoint: LLMEndpoint) -> str:
    """The loud notice that a run's LLM is scripted."""
    rule = "=" * 78
    return "\n".join(
        [
            rule,
            "  THE LLM IS SCRIPTED: canned answers, no model is called.",
            f"  {endpoint.description} at {endpoint.base_url}",
            "  For a real model, replace [litellm] scripted = ... in the config with either",
            '    base_url = "http://localhost:4000"     (any OpenAI-compatible endpoint), or',
            '    [[litellm.models]] model_name = "..." and litellm_params = { model = "...", ... }',
            "  (a local LiteLLM proxy; see docs/llm.md).",
            rule,
        ]
    )


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else repr(error)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _models_of(client: httpx.AsyncClient, base_url: str, headers: Mapping[str, str]) -> list[str]:
    """The ``id``s listed by ``GET <base_url>/v1/models`` (empty when that fails)."""
    try:
        response = await client.get(f"{base_url}/v1/models", headers=headers)
        data = response.json()["data"] if response.is_success else []
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        log.info("no model list from the LLM endpoint", base_url=base_url, error=_reason(error))
        return []


async def _reachable(client: httpx.AsyncClient, base_url: str) -> str | None:
    """``None`` when the endpoint answers anything over HTTP, else why not."""
    try:
        await client.get(f"{base_url}/v1/models")
        return None
    except httpx.HTTPError:
        pass
    try:
        await client.get(f"{base_url}/health")
        return None
    except httpx.HTTPError as error:
        return _reason(error)


async def _healthy(client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> str | None:
    """``None`` when LiteLLM's ``/health`` is fine (CLI.md §3.2), else why not."""
    try:
        response = await client.get(f"{url}/health", headers=headers)
    except httpx.HTTPError as error:
        return _reason(error)
    if not response.is_success:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return None
    unhealthy = body.get("unhealthy_count", 0) if isinstance(body, dict) else 0
    if isinstance(unhealthy, int) and unhealthy > 0:
        return f"Unhealthy endpoints detected: {unhealthy} unhealthy endpoints"
    return None


@asynccontextmanager
async def open_endpoint(
    section: LiteLLMSection | None,
    config_dir: Path,
    log_dir: Path,
    *,
    attempts: int = 30,
    interval: float = 5.0,
    request_timeout: float = 60.0,
    stop_timeout: float = 10.0,
    report: Report | None = None,
) -> AsyncIterator[LLMEndpoint]:
    """The endpoint of ``section`` for the duration of the block (CLI.md §3.3).

    Args:
        config_dir: what a relative ``scripted`` path is relative to (the config file's directory).
        log_dir: where a local proxy writes ``litellm.log`` (and, while it runs, its config).
        attempts, interval, request_timeout: the health-check schedule (CLI.md §3.2: 30 x 5 s, 60 s).
        stop_timeout: seconds a local proxy gets to stop after SIGTERM before SIGKILL.
        report: progress lines for the user (the scripted banner, ``Starting LiteLLM...``, warnings).

    Raises:
        EndpointError: the exact texts of CLI.md §3.3, or why the endpoint cannot be used.
    """
    say = report or (lambda line: None)
    if section is None:
        raise EndpointError(SECTION_REQUIRED)
    for note in section.ignored():
        log.warning(note)
        say(f"⚠ {note}")
    timeout = httpx.Timeout(request_timeout)
    if section.mode == "scripted":
        async with _scripted(section, config_dir, say) as endpoint:
            yield endpoint
    elif section.mode == "base_url":
        yield await _remote(section, attempts, interval, timeout, say)
    elif section.mode == "local":
        async with _local(section, log_dir, attempts, interval, timeout, stop_timeout, say) as endpoint:
            yield endpoint
    else:
        raise EndpointError(NO_MODELS)


@asynccontextmanager
async def _scripted(section: LiteLLMSection, config_dir: Path, say: Report) -> AsyncIterator[LLMEndpoint]:
    assert section.scripted is not None
    try:
        server = ScriptedLLM.from_file(config_dir / section.scripted)
    except ScriptError as error:
        raise EndpointError(f"Scripted LLM: {error}") from None
    server.start()
    try:
        endpoint = LLMEndpoint(
            server.url, list(server.models), f"scripted LLM (no model): {section.scripted}", "scripted"
        )
        log.warning("the LLM is scripted", script=str(server.source), url=server.url)
        say(scripted_banner(endpoint))
        yield endpoint
    finally:
        await anyio.to_thread.run_sync(server.stop)


async def _remote(
    section: LiteLLMSection, attempts: int, interval: float, client_timeout: httpx.Timeout, say: Report
) -> LLMEndpoint:
    base_url = section.base_url
    assert base_url is not None
    async with httpx.AsyncClient(timeout=client_timeout) as client:
        if section.health_check:
            for attempt in range(1, attempts + 1):
                reason = await _reachable(client, base_url)
                if reason is None:
                    break
                log.info("LLM endpoint not reachable", base_url=base_url, attempt=attempt, reason=reason)
                if attempt == attempts:
                    raise EndpointError(f"LLM endpoint {base_url} is not reachable: {reason}")
                if attempt == 1:
                    say(f"Waiting for the LLM endpoint {base_url} ({reason})...")
                await anyio.sleep(interval)
        models = section.model_names() or await _models_of(client, base_url, {})
    say(f"✓ LLM endpoint {base_url} ({', '.join(models) or 'no models listed'})")
    return LLMEndpoint(base_url, models, f"LLM endpoint {base_url}", "base_url")


@asynccontextmanager
async def _local(
    section: LiteLLMSection,
    log_dir: Path,
    attempts: int,
    interval: float,
    client_timeout: httpx.Timeout,
    stop_timeout: float,
    say: Report,
) -> AsyncIterator[LLMEndpoint]:
    executable = find_litellm()
    config_text = litellm_config_text(section)
    if section.port and not _port_free(section.port):
        raise EndpointError(
            f"Port {section.port} for LiteLLM is in use: set [litellm].port to a free port (0 picks one), "
            f'or use the server listening there with [litellm].base_url = "http://127.0.0.1:{section.port}"'
        )
    port = section.port or _free_port()
    env = litellm_environment(section, os.environ)
    if not env.get("LITELLM_MASTER_KEY"):
        env["LITELLM_MASTER_KEY"] = "sk-" + secrets.token_urlsafe(32)
    key = env["LITELLM_MASTER_KEY"]
    config_path, log_path = _write_config(log_dir, config_text)
    command = [str(executable), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)]
    say("Starting LiteLLM...")
    log.info("starting LiteLLM", command=command, log=str(log_path))
    with log_path.open("ab") as output:
        process = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only, from the event loop's thread
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only a prctl, safe before exec
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(process, url, key, log_path, attempts, interval, client_timeout, say)
        say(f"✓ LiteLLM started at {url}")
        yield LLMEndpoint(url, section.model_names(), f"local LiteLLM proxy at {url}", "local", key)
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process, stop_timeout)
            config_path.unlink(missing_ok=True)


async def _wait_healthy(
    process: "subprocess.Popen[bytes]",
    url: str,
    key: str,
    log_path: Path,
    attempts: int,
    interval: float,
    client_timeout: httpx.Timeout,
    say: Report,
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=client_timeout, trust_env=False) as client:
        for attempt in range(1, attempts + 1):
            _check_running(process, log_path)
            reason = await _healthy(client, url, headers)
            _check_running(process, log_path)
            if reason is None:
                return
            log.info("LiteLLM not healthy yet", attempt=attempt, reason=reason)
            if attempt == attempts:
                raise EndpointError(
                    f"Health check failed after {attempts} attempts: {reason} (log: {log_path})"
                )
            if attempt == 1:
                say(f"Waiting for LiteLLM at {url} (log: {log_path})...")
            await _exited_within(process, interval)


def _write_config(log_dir: Path, text: str) -> tuple[Path, Path]:
    """Write the proxy's config (owner-only: it may hold api keys); its path and the log's."""
    log_dir.mkdir(parents=True, exist_ok=True)
    config_path = log_dir / "litellm-config.yaml"
    descriptor = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)
    return config_path, log_dir / "litellm.log"


async def _exited_within(process: "subprocess.Popen[bytes]", seconds: float) -> bool:
    """Whether ``process`` ends within ``seconds`` (cancellable: the waiting thread is abandoned)."""

    def wait() -> bool:
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    return await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)


def _check_running(process: "subprocess.Popen[bytes]", log_path: Path) -> None:
    code = process.poll()
    if code is None:
        return
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
    except OSError:
        tail = []
    lines = "".join(f"\n  {line}" for line in tail)
    raise EndpointError(f"LiteLLM exited with status {code} before it was ready (log: {log_path}){lines}")


async def _stop(process: "subprocess.Popen[bytes]", stop_timeout: float) -> None:
    """SIGTERM to the proxy's process group, SIGKILL after ``stop_timeout`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        await _exited_within(process, stop_timeout)
    if process.poll() is None:
        log.warning("LiteLLM did not stop", pid=process.pid)
    # the group may hold workers that outlived the leader: they get the same end
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
