"""Errors of the verification engine (part of the tree in `skilldeck.tools.errors`)."""

from __future__ import annotations

from skilldeck.tools.errors import InvalidInputError, SkilldeckError

__all__ = ["VerifyError", "AnswerTooLargeError", "EvidenceReadError", "JudgeError"]


class VerifyError(SkilldeckError):
    """Base of errors raised on purpose by the verifier."""


class AnswerTooLargeError(VerifyError, InvalidInputError):
    """The answer exceeds the size limit; the message gives the size, the limit and what to do."""


class JudgeError(VerifyError):
    """An optional judge backend (classifier or LLM) failed or returned something unusable."""


class EvidenceReadError(VerifyError, InvalidInputError):
    """An evidence file exists but cannot be used (unreadable, binary, too large)."""
