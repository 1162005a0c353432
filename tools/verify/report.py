"""What verification returns: per-claim results, the answer-level verdict, the grounded rewrite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.verify.checks import Signal
from skilldeck.tools.verify.claims import Claim
from skilldeck.tools.verify.evidence import Sentence
from skilldeck.tools.verify.text import clip

__all__ = ["ClaimResult", "VerificationReport", "grounded_rewrite", "render_text"]


@dataclass
class ClaimResult:
    """One claim's verdict and outcome.

    `verdict`: supported, unsupported, contradicted, unsure or not_check_worthy. `outcome` says the
    same in three words (supported / not_supported / unsure) and `reason` why a claim is not
    supported (contradicted, fabricated_number, fabricated_name, unsourced_attribution, missing,
    denial_unsupported, judged). `lean` is the binary verdict of the lexical checks alone and
    `probability` the calibrated chance that the claim is supported (see `calibration`).
    """

    claim: Claim
    verdict: str
    score: float = 0.0
    coverage: float = 0.0
    signals: list[Signal] = field(default_factory=list)
    citations: list[Sentence] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    judged_by: str = "lexical"
    features: dict[str, float] = field(default_factory=dict)  # the calibrator's inputs (see `features`)
    nearby: list[Sentence] = field(default_factory=list)  # best run of adjacent evidence sentences
    outcome: str = ""
    reason: str = ""
    lean: str = ""
    probability: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.claim.to_dict(), "verdict": self.verdict, "score": self.score}
        if self.claim.check_worthy:
            out |= {"outcome": self.outcome, **({"reason": self.reason} if self.reason else {}),
                    "probability": self.probability, "lexical_verdict": self.lean,
                    "coverage": self.coverage, "signals": [s.to_dict() for s in self.signals],
                    "citations": [c.citation() for c in self.citations], "missing_terms": self.missing,
                    "judged_by": self.judged_by}
        return out


@dataclass
class VerificationReport:
    """The whole answer's outcome.

    `status`: in normal risk mode supported (every claim), partially_supported (some claims are
    not supported), unsupported (none is), unsure (no claim is refuted but some are unsettled) or
    no_claims; in high risk mode accepted / rejected (an unsure claim rejects: fail closed). `score` is the mean claim score over check-worthy claims
    (0.0, never NaN, when there are none). `reasons` say why an answer was rejected or flagged.
    """

    risk: str
    status: str
    score: float
    claims: list[ClaimResult]
    signals: list[tuple[int | None, Signal]]
    reasons: list[str]
    rewrite: str
    backend: str = "lexical"
    evidence_skipped: list[str] = field(default_factory=list)  # glob matches leading outside the allowed folders
    notes: list[str] = field(default_factory=list)  # what a judge did or failed to do

    @property
    def supported(self) -> bool:
        """True when every check-worthy claim is supported and there is at least one."""
        return self.status in ("supported", "accepted")

    def counts(self) -> dict[str, int]:
        out = {"supported": 0, "unsupported": 0, "contradicted": 0, "unsure": 0, "not_check_worthy": 0}
        for c in self.claims:
            out[c.verdict] = out.get(c.verdict, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "risk": self.risk, "score": self.score, "backend": self.backend,
                "counts": self.counts(), "reasons": self.reasons,
                "signals": [{**s.to_dict(), **({"claim": i} if i is not None else {})} for i, s in self.signals],
                "claims": [c.to_dict() for c in self.claims], "rewrite": self.rewrite,
                **({"notes": self.notes} if self.notes else {}),
                **({"evidence_skipped": {"reason": "these glob matches lead outside the allowed folders (through "
                                                   "a symlink or a hard link) and were not read",
                                         "paths": self.evidence_skipped[:20], "count": len(self.evidence_skipped)}}
                   if self.evidence_skipped else {})}


_FAILED = ("unsupported", "contradicted", "unsure")
_TAGS = {"unsupported": " [unsupported]", "contradicted": " [contradicted by the evidence]",
         "unsure": " [unsure: not settled by the evidence]"}


def grounded_rewrite(answer: str, results: list[ClaimResult], mode: str) -> str:
    """The answer with claims that are not supported (unsure included) removed (`mode='remove'`) or marked ('mark')."""
    text = answer
    for r in sorted(results, key=lambda r: r.claim.start, reverse=True):
        if r.verdict not in _FAILED:
            continue
        a, b = r.claim.start, r.claim.end
        if mode == "remove":
            while b < len(text) and text[b] in " \t":
                b += 1
            text = text[:a] + text[b:]
        else:
            text = text[:b] + _TAGS[r.verdict] + text[b:]
    if mode == "remove":
        lines = [ln.rstrip() for ln in text.splitlines()]
        # Drop bullets and table rows left empty by the removal.
        lines = [ln for ln in lines if ln.strip() not in ("-", "*", "•", "|", "||", "| |") and
                 not (ln.strip().rstrip(".)").isdigit() and len(ln.strip()) <= 4)]
        text = "\n".join(lines).strip()
    return text


def render_text(report: VerificationReport, width: int = 100) -> str:
    """A readable report for people (the CLI's default output)."""
    lines = [f"verdict: {report.status}  (risk {report.risk}, score {report.score:.2f}, backend {report.backend})"]
    counts = report.counts()
    lines.append("claims: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v))
    for reason in report.reasons:
        lines.append(f"  ! {reason}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append("")
    marks = {"supported": "✓", "unsupported": "?", "contradicted": "✗", "unsure": "~", "not_check_worthy": "·"}
    for r in report.claims:
        why = f" ({r.reason})" if r.reason and r.reason != r.verdict else ""
        lines.append(f"{marks.get(r.verdict, ' ')} [{r.claim.index}] {r.verdict}{why}: {clip(r.claim.text, width)}")
        if not r.claim.check_worthy:
            lines.append(f"      ({r.claim.reason})")
            continue
        for s in r.signals:
            lines.append(f"      - {s.name}: {s.detail}")
        if r.missing and r.verdict != "supported":
            lines.append(f"      - not in evidence: {', '.join(r.missing[:8])}")
        for c in r.citations[:2]:
            where = f"{c.item.source}" + (f":{c.line}" if c.line else f" #{c.position}")
            label = where if c.item.id == c.item.source else f"{c.item.id} ({where})"  # a file: its path once
            lines.append(f"      cite {label}: \"{clip(c.text, width - 20)}\"")
    answer_level = [s for i, s in report.signals if i is None]
    if answer_level:
        lines.append("")
        lines.append("answer-level signals:")
        lines += [f"  - {s.name}: {s.detail}" for s in answer_level]
    lines += ["", "grounded rewrite:", report.rewrite or "(nothing left: no claim is supported)"]
    return "\n".join(lines)
