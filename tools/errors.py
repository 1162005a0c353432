"""The one exception tree for every engine.

    SkilldeckError                 base: anything an engine raises on purpose
    ├── InvalidInputError          bad arguments or input data (names what is wrong and where)
    ├── NotFoundError              an unknown skill, file, job, model ...
    ├── AccessDeniedError          a path that leaves its allowed folder
    └── StateError                 the operation does not fit the current state (job finished ...)

Engines subclass these (``BatchError(SkilldeckError)``) so one ``except SkilldeckError``
catches all of them. The MCP layer turns them into ``ToolError`` in `skilldeck.server.errors`.
"""

from __future__ import annotations

__all__ = ["SkilldeckError", "InvalidInputError", "NotFoundError", "AccessDeniedError", "StateError"]


class SkilldeckError(Exception):
    """Base of every error an engine raises on purpose; its message is written for the user."""


class InvalidInputError(SkilldeckError, ValueError):
    """Arguments or input data are invalid; the message names the value and what is valid."""


class NotFoundError(SkilldeckError, LookupError):
    """A named thing (skill, file, job) does not exist."""


class AccessDeniedError(SkilldeckError, PermissionError):
    """A path resolves outside the folder it is confined to."""


class StateError(SkilldeckError, RuntimeError):
    """The operation does not fit the current state of the thing it acts on."""
