"""The one place engine errors become MCP errors, and secrets are kept out of what leaves.

A tool's failure is a `ToolError` (`tool_errors`, `argument_error`); a protocol request's
(resources, prompts, skills/*) is a JSON-RPC "invalid params" error (`request_error`).

Only `ToolError` text reaches the model; any other exception arrives as a bare
"Error executing tool X". Engine errors (`SkilldeckError`) carry messages written for the
user, so they pass through verbatim. Anything else is a bug: it is logged with its traceback
and the model gets a short message that still names the tool's failure.

Every message made here goes through `redact`: the value of any environment variable whose
name looks like a secret (``*_API_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``; values of
8 characters or more), and of the HTTP bearer token however it was configured (`add_secret`), is
replaced by ``[redacted]``. The server applies the same to tool
answers, prompts and log lines (`install_log_redaction`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import mcp.types as types
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.skills.names import escape_unsafe

__all__ = ["REDACTED", "add_secret", "argument_error", "clip", "install_log_redaction", "redact", "redact_data",
           "request_error", "tool_errors", "validation_problems"]

logger = logging.getLogger("skilldeck")

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8
MAX_MESSAGE_CHARS = 4000
_SECRET_NAME = re.compile(r"(_API_KEY|_TOKEN)$|SECRET|PASSWORD", re.IGNORECASE)


# Secrets that are not in the environment: the HTTP bearer token from skilldeck.toml or
# http_token_file (both can sit in the project folder, where tools read files the model names).
_configured_secrets: set[str] = set()


def add_secret(value: str) -> None:
    """Redact `value` too, from now on, wherever `redact` is applied (as it is and as `!r` quotes it)."""
    value = value.strip()
    if len(value) >= MIN_SECRET_CHARS:
        _configured_secrets.update({value, repr(value)[1:-1]})


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the secret-looking environment variables and of `add_secret`, longest first (so a
    secret that contains another is replaced whole)."""
    env = os.environ if environ is None else environ
    values = set(_configured_secrets)
    for name, value in env.items():
        if _SECRET_NAME.search(name):
            # Also as it is used (stripped) and as an error message quotes it ("\r" written out).
            values |= {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1]}
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every secret environment value replaced by ``[redacted]``."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_data(data: Any) -> Any:
    """`redact` applied to every string inside JSON-like data (keys included)."""
    if not secret_values():
        return data
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, saying how long it was (for echoing what a client sent)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def request_error(message: str, data: Any = None) -> MCPError:
    """The JSON-RPC "invalid params" error of a protocol request, redacted and cut to 1,000 characters:
    echoing a 100 KB uri back costs the model as much context as it sent."""
    return MCPError(code=types.INVALID_PARAMS, message=redact(clip(message, 1000)),
                    data=None if data is None else redact_data(data))


def _shorten(message: str) -> str:
    """Long messages (an engine echoing a 100,000-character argument) keep their start and end."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    half = MAX_MESSAGE_CHARS // 2
    return f"{message[:half]} [... {len(message) - 2 * half:,} characters cut ...] {message[-half:]}"


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """Run a tool body, turning engine errors into `ToolError` with the engine's message."""
    try:
        yield
    except ToolError as exc:
        raise ToolError(_shorten(redact(str(exc)))) from exc
    except SkilldeckError as exc:
        raise ToolError(_shorten(redact(str(exc)))) from exc
    except ValidationError as exc:  # an engine's own model, checked past the tool's schema
        raise ToolError(_shorten(redact(f"Invalid input: {validation_problems(exc)}."))) from exc
    except OSError as exc:
        # A path the caller gave that the system refused: say why and which name, never the
        # whole path (the server's own folders are not the caller's business).
        raise ToolError(_shorten(redact(os_error_text(exc)))) from exc
    except (ValueError, TypeError) as exc:
        # Bad input that slipped past validation (a wrong type deep inside an engine): the
        # message is still useful to the caller.
        raise ToolError(_shorten(redact(f"{type(exc).__name__}: {exc}"))) from exc
    except Exception as exc:
        logger.exception("unexpected error in a tool")
        raise ToolError(_shorten(redact(f"Internal error ({type(exc).__name__}): {exc}. The server keeps running; "
                                        "please report this with the arguments used."))) from exc


def os_error_text(exc: OSError) -> str:
    """``Cannot use 'name': File name too long`` for an OSError: its reason and the last part of the
    path it names (cut to 80 characters), not the full path or Python's own wording."""
    reason = exc.strerror or type(exc).__name__
    name = os.path.basename(os.fsdecode(exc.filename).rstrip("/")) if exc.filename is not None else ""
    return f"Cannot use {clip(name, 80)!r}: {reason}." if name else f"{reason}."


def argument_error(tool: str, exc: ValidationError) -> ToolError:
    """A `ToolError` naming each bad field and its problem, without echoing the value sent."""
    return ToolError(_shorten(redact(f"Invalid arguments for {tool}: {validation_problems(exc)}. "
                                     "The tool's input schema lists the fields and their types.")))


def validation_problems(exc: ValidationError) -> str:
    """``field: problem`` for each error of `exc`, without the values sent or pydantic's links."""
    problems = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "(arguments)"
        got = f" (got {type(err['input']).__name__})" if "input" in err and err["type"].endswith("_type") else ""
        problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}{got}")
    return "; ".join(problems)


# -- log lines ---------------------------------------------------------------------------------
_installed = False


def install_log_redaction() -> None:
    """Redact secrets from every log record made in this process (message, arguments and
    traceback), whichever logger or handler writes it. Safe to call more than once."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is; logging must not fail
            return record
        secrets = secret_values()
        # A skill's path or name in a log line must not steer the terminal that shows the log.
        safe = escape_unsafe(message)
        if not secrets and safe is message:
            return record
        clean = redact(safe) if secrets else safe
        has_traceback = bool(secrets and record.exc_info and record.exc_info[0] is not None)
        if clean == message and not has_traceback:
            return record  # nothing to hide: formatters that read `args` (uvicorn's access log) still can
        if has_traceback:
            # Tracebacks carry exception messages: render them now, redacted, as plain text. The line
            # without it is kept apart: clients get log lines, never the server's tracebacks and paths.
            record.summary = clean
            clean += "\n" + _clean("".join(traceback.format_exception(*record.exc_info)), secrets)
            record.exc_info = None
            record.exc_text = None
        elif isinstance(record.args, tuple) and record.args:
            # Clean each argument instead, keeping the record's shape, when that says the same.
            args = tuple(a if isinstance(a, (int, float)) else _clean(str(a), secrets) for a in record.args)
            msg = _clean(str(record.msg), secrets)
            try:
                same = msg % args == clean
            except (TypeError, ValueError):
                same = False
            if same:
                record.msg, record.args = msg, args
                return record
        record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)


def _clean(text: str, secrets: Any) -> str:
    safe = escape_unsafe(text)
    return redact(safe) if secrets else safe
