"""The one place engine errors become MCP `ToolError`s.

Only `ToolError` text reaches the model; any other exception arrives as a bare
"Error executing tool X". Engine errors (`SkilldeckError`) carry messages written for the
user, so they pass through verbatim. Anything else is a bug: it is logged with its traceback
and the model gets a short message that still names the tool's failure.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from mcp.server.mcpserver.exceptions import ToolError

from skilldeck.tools.errors import SkilldeckError

__all__ = ["tool_errors"]

logger = logging.getLogger("skilldeck")


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """Run a tool body, turning engine errors into `ToolError` with the engine's message."""
    try:
        yield
    except ToolError:
        raise
    except SkilldeckError as exc:
        raise ToolError(str(exc)) from exc
    except (ValueError, TypeError, OSError) as exc:
        # Bad input that slipped past validation (an unreadable file, a wrong type deep
        # inside an engine): the message is still useful to the caller.
        raise ToolError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        logger.exception("unexpected error in a tool")
        raise ToolError(f"Internal error ({type(exc).__name__}): {exc}. The server keeps running; "
                        "please report this with the arguments used.") from exc
