"""An optional claim judge: any sequence-classification checkpoint in a local folder (NLI or fact-check).

    judge = NliJudge("/models/deberta-v3-mnli")        # loads lazily, on the first claim
    verify_answer(answer, evidence, judge=judge)

The model reads (evidence, claim) pairs. Its labels are mapped from `config.id2label` by name
as whole names (entailment/supports -> supported, contradiction/refutes -> contradicted,
neutral/not enough info/not_supported -> unsupported); pass `labels={"LABEL_0": "supported", ...}` for checkpoints with generic names.
torch and transformers are imported only when the model loads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import NotFoundError
from skilldeck.tools.verify.errors import JudgeError

__all__ = ["NliJudge", "map_labels"]

# Whole label names (lower-cased, separators as "_"), never substrings: "not_supported" contains
# "support" and "non_entailment" contains "entail", and both mean the opposite.
_LABELS = {
    "supported": ("entailment", "entails", "entailed", "entail", "supports", "supported", "support", "true",
                  "consistent", "faithful", "factual", "correct", "yes"),
    "contradicted": ("contradiction", "contradicts", "contradicted", "contradict", "refutes", "refuted", "refute",
                     "false", "inconsistent"),
    "unsupported": ("neutral", "not_enough_info", "not_enough_information", "nei", "not_supported", "unsupported",
                    "not_entailment", "non_entailment", "not_entailed", "irrelevant", "unverifiable", "hallucinated",
                    "unfaithful", "no"),
}
_VERDICT_OF_LABEL = {name: verdict for verdict, names in _LABELS.items() for name in names}


def _normalise(name: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", name.lower()))


def map_labels(id2label: dict[int | str, str], override: dict[str, str] | None = None) -> dict[int, str]:
    """Map a model's label ids to verdicts; raise JudgeError naming labels it cannot place.

    Names are matched whole ("SUPPORTS", "not_supported", "NOT ENOUGH INFO"); generic names
    ("LABEL_0") need `override`.
    """
    out: dict[int, str] = {}
    for idx, name in id2label.items():
        verdict = override.get(name) if override else None
        verdict = verdict or _VERDICT_OF_LABEL.get(_normalise(str(name)))
        if verdict is None:
            raise JudgeError(f"cannot tell what label {name!r} of the classifier means (labels: "
                             f"{', '.join(map(str, id2label.values()))}); pass labels={{{name!r}: "
                             "'supported'|'unsupported'|'contradicted', ...}.")
        if verdict not in ("supported", "unsupported", "contradicted"):
            raise JudgeError(f"label {name!r} is mapped to {verdict!r}; use supported, unsupported or contradicted.")
        out[int(idx)] = verdict
    if "supported" not in out.values():
        raise JudgeError(f"no label of the classifier means 'supported' (labels: "
                         f"{', '.join(map(str, id2label.values()))}).")
    if set(out.values()) == {"supported"}:
        raise JudgeError(f"every label of the classifier reads as 'supported' ({', '.join(map(str, id2label.values()))})"
                         "; pass labels= to say which ones are not.")
    return out


class NliJudge:
    """Judges (evidence, claim) pairs with a local sequence-classification model."""

    name = "nli"

    def __init__(self, model_dir: str | os.PathLike, *, labels: dict[str, str] | None = None, batch_size: int = 16,
                 max_length: int = 512, device: str = "cpu") -> None:
        self.model_dir = Path(model_dir).expanduser()
        if not (self.model_dir / "config.json").is_file():
            raise NotFoundError(f"no classifier at {self.model_dir}: expected a folder with config.json, model "
                                "weights and tokenizer files (as saved by save_pretrained).")
        self.labels = labels
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._verdicts: dict[int, str] = {}

    def _load(self) -> None:
        # Imported here: torch and transformers take seconds to import and are optional extras.
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise JudgeError("the NLI judge needs transformers and torch: pip install 'skilldeck[train]'") from exc
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self._model = AutoModelForSequenceClassification.from_pretrained(self.model_dir).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise JudgeError(f"cannot load the classifier in {self.model_dir}: {exc}") from exc
        self._verdicts = map_labels(dict(self._model.config.id2label), self.labels)

    def judge(self, pairs: list[tuple[str, str]]) -> list[tuple[str, float]]:
        """Return (verdict, probability) for each (evidence, claim) pair."""
        if not pairs:
            return []
        if self._model is None:
            self._load()
        import torch

        out: list[tuple[str, float]] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start:start + self.batch_size]
            enc = self._tokenizer([e for e, _ in batch], [c for _, c in batch], truncation=True,
                                  max_length=self.max_length, padding=True, return_tensors="pt").to(self.device)
            with torch.no_grad():
                probs = self._model(**enc).logits.softmax(-1)
            for row in probs:
                idx = int(row.argmax())
                out.append((self._verdicts[idx], round(float(row[idx]), 4)))
        return out
