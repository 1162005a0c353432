"""Answer the stdio lines the SDK cannot read, instead of dropping them.

The SDK's stdio transport hands a line that is not valid JSON to the server as an exception,
and the server only logs it: the request gets no answer and the client waits until its own
timeout (minutes, in some clients). A model can cause that from inside a tool's arguments:
nesting deeper than the JSON parser's limit, an integer of thousands of digits, a lone UTF-16
surrogate. `AnswersUnreadable` wraps the read stream and answers each such line at once with a
JSON-RPC parse error that carries the request's id, so the client's call fails with a reason.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pydantic
from mcp.shared.message import SessionMessage
from mcp.types import PARSE_ERROR, ErrorData, JSONRPCError

__all__ = ["AnswersUnreadable", "parse_error_reply"]


def _request_id(raw: str) -> int | str | None:
    """The top-level id of a line pydantic's parser refused, read by Python's more lenient one
    (no depth limit below the interpreter's, digits not converted, surrogates kept); None when
    even that fails or the line names no usable id."""
    try:
        message = json.loads(raw, parse_int=lambda digits: int(digits) if len(digits) <= 18 else 0)
    except RecursionError:  # nested past even Python's limit: find the id without parsing the rest
        return _scanned_id(raw)
    except ValueError:
        return None
    ident = message.get("id") if isinstance(message, dict) else None
    return ident if isinstance(ident, (int, str)) and not isinstance(ident, bool) else None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _scanned_id(raw: str) -> int | str | None:
    """The value of the top-level "id" key of the object `raw`, found by one pass over its brackets
    and strings (no recursion, so a request nested 5,000 deep still gets its answer)."""
    text = raw.lstrip()
    if not text.startswith("{"):
        return None
    depth, i = 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            try:
                word, end = json.decoder.scanstring(text, i + 1)
            except ValueError:
                return None
            if depth == 1 and word == "id":
                colon = _skip_space(text, end)
                if text[colon:colon + 1] == ":":  # a key, not a value that reads "id"
                    try:
                        value, _ = json.JSONDecoder().raw_decode(text, _skip_space(text, colon + 1))
                    except (ValueError, RecursionError):
                        return None
                    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)
                                                  and abs(value) < 10**18):
                        return value
                    return None
            i = end
            continue
        depth += 1 if c in "{[" else -1 if c in "}]" else 0
        i += 1
    return None


def parse_error_reply(item: Any) -> SessionMessage | None:
    """The JSON-RPC error answering `item` when it is a line that is not JSON; else None."""
    if not isinstance(item, pydantic.ValidationError):
        return None
    errors = item.errors(include_url=False)
    if not errors or errors[0]["type"] != "json_invalid" or not isinstance(errors[0].get("input"), str):
        return None  # valid JSON that is not a JSON-RPC message: the client's bug, left to the SDK
    reason = errors[0]["msg"][:200]
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=_request_id(errors[0]["input"]), error=ErrorData(
        code=PARSE_ERROR, message=f"The request could not be read ({reason}); nothing was run. Tool arguments "
                                  "must be plain JSON: nested less deeply, numbers of a few digits.")))


class AnswersUnreadable:
    """A read stream that passes on what the transport read, less the unreadable lines, each of
    which it answers on `writes` (see the module's docstring)."""

    def __init__(self, reads: Any, writes: Any) -> None:
        self._reads = reads
        self._writes = writes

    @property
    def last_context(self) -> Any:
        return getattr(self._reads, "last_context", None)

    def __aiter__(self) -> AnswersUnreadable:
        return self

    async def __anext__(self) -> Any:
        while True:
            item = await self._reads.__anext__()
            reply = parse_error_reply(item)
            if reply is None:
                return item
            await self._writes.send(reply)

    async def receive(self) -> Any:
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise anyio.EndOfStream from None

    async def aclose(self) -> None:
        await self._reads.aclose()

    async def __aenter__(self) -> AnswersUnreadable:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
