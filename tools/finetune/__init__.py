"""Fine-tuning engine: decide whether to fine-tune, validate the data, train LoRA, evaluate.

Light at import: the advisor and the validator are plain Python; torch, transformers and
peft are imported only inside the training and evaluation code, which runs in job worker
processes (`skilldeck.tools.finetune.job`).
"""

from skilldeck.tools.finetune.advisor import Advice, AdviceRequest, advise
from skilldeck.tools.finetune.errors import DatasetError, FinetuneError, LossMaskError, TrainingUnavailableError
from skilldeck.tools.finetune.findings import Finding, ValidationReport
from skilldeck.tools.finetune.splits import SplitResult, write_splits
from skilldeck.tools.finetune.validator import validate

__all__ = ["Advice", "AdviceRequest", "advise", "DatasetError", "FinetuneError", "LossMaskError",
           "TrainingUnavailableError", "Finding", "ValidationReport", "SplitResult", "write_splits", "validate"]
