"""Errors of the fine-tuning engine (part of the tree in `skilldeck.tools.errors`).

    FinetuneError(SkilldeckError)
    ├── DatasetError(InvalidInputError)      unreadable or unusable training data
    ├── LossMaskError(InvalidInputError)     the tokens that carry loss are wrong (EOS hidden ...)
    └── TrainingUnavailableError(StateError) torch/transformers/peft or CUDA missing for what was asked
"""

from __future__ import annotations

from skilldeck.tools.errors import InvalidInputError, SkilldeckError, StateError

__all__ = ["FinetuneError", "DatasetError", "LossMaskError", "TrainingUnavailableError"]


class FinetuneError(SkilldeckError):
    """Base of errors raised on purpose by the fine-tuning engine."""


class DatasetError(FinetuneError, InvalidInputError):
    """A dataset file cannot be read or has no usable record; the message names the file and line."""


class LossMaskError(FinetuneError, InvalidInputError):
    """The loss mask would train the wrong tokens (EOS masked, nothing to learn, prompt trained)."""


class TrainingUnavailableError(FinetuneError, StateError):
    """The training stack or the hardware asked for is missing; the message says what to install."""
