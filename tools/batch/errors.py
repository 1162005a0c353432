"""Errors of the batching engine (part of the tree in `skilldeck.tools.errors`).

    BatchError(SkilldeckError)
    ├── TaskFileError(InvalidInputError)   a task file that is not JSONL, or has missing/duplicate ids
    ├── PlanError(InvalidInputError)       a request that can never fit the limits or the budget
    └── ProviderConfigError(InvalidInputError)  unknown provider, missing API key variable ...
"""

from __future__ import annotations

from skilldeck.tools.errors import InvalidInputError, SkilldeckError

__all__ = ["BatchError", "TaskFileError", "PlanError", "ProviderConfigError"]


class BatchError(SkilldeckError):
    """Base of errors raised on purpose by the batching engine."""


class TaskFileError(BatchError, InvalidInputError):
    """The task file cannot be used; the message names the line and what is wrong."""


class PlanError(BatchError, InvalidInputError):
    """A task or batch can never be sent under the given limits and budgets."""


class ProviderConfigError(BatchError, InvalidInputError):
    """The provider settings are unusable (unknown provider, no API key in the environment ...)."""
