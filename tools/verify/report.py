"""What verification returns: per-claim results, the answer-level verdict, the grounded rewrite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.verify.checks import Signal
from skilldeck.tools.verify.claims import Claim
from skilldeck.tools.verify.evidence import Sentence

__all__ = ["ClaimResult", "VerificationReport", "grounded_rewrite", "render_text"]


@dataclass
class ClaimResult:
    """One claim's verdict: supported, unsupported, contradicted or not_check_worthy."""

    claim: Claim
    verdict: str
    score: float = 0.0
    coverage: float = 0.0
    signals: list[Signal] = field(default_factory=list)
    citations: list[Sentence] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    judged_by: str = "lexical"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.claim.to_dict(), "verdict": self.verdict, "score": self.score}
        if self.claim.check_worthy:
            out |= {"coverage": self.coverage, "signals": [s.to_dict() for s in self.signals],
                    "citations": [c.citation() for c in self.citations], "missing_terms": self.missing,
                    "judged_by": self.judged_by}
        return out


@dataclass
class VerificationReport:
    """The whole answer's outcome.

    `status`: in normal risk mode supported / partially_supported / unsupported / no_claims; in
    high risk mode accepted / rejected. `score` is the mean claim score over check-worthy claims
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

    @property
    def supported(self) -> bool:
        """True when every check-worthy claim is supported and there is at least one."""
        return self.status in ("supported", "accepted")

    def counts(self) -> dict[str, int]:
        out = {"supported": 0, "unsupported": 0, "contradicted": 0, "not_check_worthy": 0}
        for c in self.claims:
            out[c.verdict] = out.get(c.verdict, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "risk": self.risk, "score": self.score, "backend": self.backend,
                "counts": self.counts(), "reasons": self.reasons,
                "signals": [{**s.to_dict(), **({"claim": i} if i is not None else {})} for i, s in self.signals],
                "claims": [c.to_dict() for c in self.claims], "rewrite": self.rewrite,
                **({"evidence_skipped": {"reason": "these glob matches lead outside the allowed folders (through "
                                                   "a symlink or a hard link) and were not read",
                                         "paths": self.evidence_skipped[:20], "count": len(self.evidence_skipped)}}
                   if self.evidence_skipped else {})}


_FAILED = ("unsupported", "contradicted")


def grounded_rewrite(answer: str, results: list[ClaimResult], mode: str) -> str:
    """The answer with unsupported and contradicted claims removed (`mode='remove'`) or marked ('mark')."""
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
            tag = " [unsupported]" if r.verdict == "unsupported" else " [contradicted by the evidence]"
            text = text[:b] + tag + text[b:]
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
    lines.append("")
    marks = {"supported": "✓", "unsupported": "?", "contradicted": "✗", "not_check_worthy": "·"}
    for r in report.claims:
        lines.append(f"{marks.get(r.verdict, ' ')} [{r.claim.index}] {r.verdict}: {_clip(r.claim.text, width)}")
        if not r.claim.check_worthy:
            lines.append(f"      ({r.claim.reason})")
            continue
        for s in r.signals:
            lines.append(f"      - {s.name}: {s.detail}")
        if r.missing and r.verdict != "supported":
            lines.append(f"      - not in evidence: {', '.join(r.missing[:8])}")
        for c in r.citations[:2]:
            where = f"{c.item.source}" + (f":{c.line}" if c.line else f" #{c.position}")
            lines.append(f"      cite {c.item.id} ({where}): \"{_clip(c.text, width - 20)}\"")
    answer_level = [s for i, s in report.signals if i is None]
    if answer_level:
        lines.append("")
        lines.append("answer-level signals:")
        lines += [f"  - {s.name}: {s.detail}" for s in answer_level]
    lines += ["", "grounded rewrite:", report.rewrite or "(nothing left: no claim is supported)"]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
