"""One settings object, read once at start and passed down.

Precedence, highest first: command-line flags, ``SKILLDECK_*`` environment variables, a
``skilldeck.toml`` file (``--config PATH``, ``$SKILLDECK_CONFIG``, or ``./skilldeck.toml``),
then the defaults below. List values in the environment are separated by the OS path
separator (``:`` on POSIX).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from skilldeck.tools.errors import InvalidInputError

__all__ = ["Settings", "load_settings"]

ENV_PREFIX = "SKILLDECK_"


class Settings(BaseModel):
    """Everything configurable about a running server."""

    model_config = ConfigDict(extra="forbid")

    skills: list[Path] = Field(default_factory=list, description="Extra skill roots, highest precedence first.")
    project_dir: Path | None = Field(None, description="Project whose .claude/skills/ and skills/ are searched "
                                     "(default: the MCP client's roots, else the working directory).")
    client_roots: bool = Field(True, description="Take the project from the client's roots. Off under --http: "
                               "one server process serves several clients there, and one client's roots must not "
                               "replace another's skills.")
    user_skills: bool = Field(True, description="Search ~/.claude/skills/.")
    claude_skills: bool = Field(True, description="Serve the folders Claude Code loads by itself "
                                "(~/.claude/skills/ and the project's .claude/skills/). Off in the Claude Code "
                                "plugin, so each of those skills shows up once.")
    bundled_skills: bool = Field(True, description="Serve the skills bundled with skilldeck.")
    catalog_bytes: int = Field(2048, ge=256, le=65536, description="Byte budget of the catalog in the "
                               "use_skill tool description (Claude Code cuts longer descriptions).")
    watch: bool = Field(True, description="Hot-reload skills when their files change.")
    watch_debounce_ms: int = Field(150, ge=0, le=10000, description="Quiet time before a reload.")
    page_size: int = Field(100, ge=1, le=1000, description="Items per page of resources/list and prompts/list.")
    max_read_bytes: int = Field(60_000, ge=1000, description="Largest slice read_skill_file returns at once.")
    toolsets: list[str] = Field(default_factory=lambda: ["skills"], description="Tool groups listed from the "
                                "start ('all' for every group); the others load on demand through enable_tools.")
    embeddings: Literal["auto", "off"] = Field("auto", description="Blend embedding similarity into "
                                               "find_skills when the embeddings extra is installed ('off': lexical only).")
    host: str = Field("127.0.0.1", description="HTTP bind address (with --http).")
    port: int = Field(8765, ge=1, le=65535, description="HTTP port (with --http).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="Server log level.")
    call_timeout_s: float = Field(90.0, gt=0, le=3600, description="Seconds one tool call, prompt or resource "
                                  "read may run (plus the tool's own wait_s) before it is stopped with an error; "
                                  "long work runs as background jobs.")
    max_answer_bytes: int = Field(1_000_000, ge=10_000, description="Largest tool answer or prompt in bytes; "
                                  "longer text is cut with a note saying how to ask for the rest.")
    max_argument_chars: int = Field(50_000, ge=100, description="Longest string accepted in a tool argument "
                                    "(unless the tool sets its own limit); longer ones are refused, naming the field.")
    concurrent_calls: int = Field(16, ge=1, le=32, description="Tool calls, prompts and resource reads run at "
                                  "once; the others wait their turn within their time limit. At most 32, so "
                                  "stuck calls can never take the worker threads the stdio transport needs.")
    allow_remote: bool = Field(False, description="Allow --http on an address other than loopback (needs "
                               "http_token or http_token_file, and allowed_hosts when binding every interface).")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host header values accepted over HTTP "
                                     "besides the bind address ('name:port', or 'name:*' for any port); others get "
                                     "421 (DNS-rebinding protection).")
    allowed_origins: list[str] = Field(default_factory=list, description="Origin header values accepted over HTTP "
                                       "besides loopback ones ('https://app.example', ':*' for any port); others "
                                       "get 403.")
    http_token: SecretStr | None = Field(None, description="Bearer token HTTP clients must send (Authorization: "
                                         "Bearer ...); required with allow_remote, optional on loopback. Prefer "
                                         "SKILLDECK_HTTP_TOKEN or http_token_file to a flag.")
    http_token_file: Path | None = Field(None, description="File holding the bearer token (first line).")
    model_dirs: list[Path] = Field(default_factory=list, description="Folders outside the project that tools may "
                                   "read models from (base models, adapters, tokenizers); the project folder is "
                                   "always allowed, other paths a tool is given are refused.")
    data_dirs: list[Path] = Field(default_factory=list, description="Folders outside the project that tools may "
                                  "read data from and write data to (datasets, task files, evidence, splits, "
                                  "training output).")
    provider_urls: list[str] = Field(default_factory=list, description="LLM endpoints (base URLs) a tool call may "
                                     "name as base_url, besides each provider's own default; an API key is sent "
                                     "only to those. Other base_url values are refused.")


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        if name in ("skills", "model_dirs", "data_dirs"):
            values[name] = [p for p in raw.split(os.pathsep) if p]
        elif name in ("toolsets", "allowed_hosts", "allowed_origins", "provider_urls"):  # commas: hosts carry ':port'
            values[name] = [p.strip() for p in raw.split(",") if p.strip()]
        elif field.annotation is bool:
            values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        else:
            values[name] = raw
    return values


def _from_toml(path: Path | None, explicit: bool) -> dict[str, Any]:
    if path is None or not path.is_file():
        if explicit:
            raise InvalidInputError(f"config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read config file {path}: {exc}") from exc
    section = data.get("skilldeck", data)
    return {k.replace("-", "_"): v for k, v in section.items()}


def load_settings(flags: dict[str, Any] | None = None, environ: dict[str, str] | None = None,
                  config: Path | None = None) -> Settings:
    """Merge defaults, toml, environment and flags (flags win); raise InvalidInputError if invalid."""
    environ = dict(os.environ if environ is None else environ)
    explicit = config is not None or "SKILLDECK_CONFIG" in environ
    config = config or (Path(environ["SKILLDECK_CONFIG"]) if "SKILLDECK_CONFIG" in environ else Path("skilldeck.toml"))
    merged: dict[str, Any] = {}
    merged.update(_from_toml(config, explicit))
    merged.update(_from_env(environ))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    # "~/x" in a toml file or the environment means the home folder
    for key in ("project_dir", "skills", "model_dirs", "data_dirs"):
        if isinstance(merged.get(key), str):
            merged[key] = str(Path(merged[key]).expanduser())
        elif isinstance(merged.get(key), list):
            merged[key] = [str(Path(p).expanduser()) for p in merged[key]]
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(f"invalid settings ({problems})") from exc
