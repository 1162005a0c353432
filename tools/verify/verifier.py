"""verify_answer: claims -> evidence -> per-claim verdicts -> answer-level signals -> risk decision.

    report = verify_answer("Paris has 2.1 million people.", evidence=["Paris has 2.1 million residents."])
    report.status            # "supported"
    report.claims[0].citations[0].citation()   # {"evidence_id": "e1", "quote": ..., "start": 0, ...}

Each check-worthy claim gets one of three outcomes (see `calibration`): supported, not supported
(with the reason) or unsure. Risk `normal` reports per claim and overall and shows unsure claims
plainly. Risk `high` fails closed: any check-worthy claim that is not supported (unsure
included), any answer-level signal, no evidence, unreadable evidence or no claims gives status
`rejected` with reasons. Both return a grounded rewrite.

A judge (a classifier, an LLM, or the host model through `judge.Packet`s) sees only the claims
`judge_targets` picks: those no hard check failed and the backend did not settle as supported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.verify.calibration import Calibration, settle
from skilldeck.tools.verify.checks import Signal
from skilldeck.tools.verify.claims import Claim, split_claims
from skilldeck.tools.verify.errors import AnswerTooLargeError, EvidenceReadError
from skilldeck.tools.verify.evidence import EvidenceLimits, EvidenceSet, load_evidence
from skilldeck.tools.verify.features import HARD_SIGNALS
from skilldeck.tools.verify.judge import Judgement, build_packets
from skilldeck.tools.verify.report import ClaimResult, VerificationReport, grounded_rewrite
from skilldeck.tools.verify.signals import (drift, expected_answer_type, fabricated_specifics, unanchored_time,
                                            unsourced_authority)
from skilldeck.tools.verify.support import Matcher, SupportConfig, score_claim
from skilldeck.tools.verify.text import terms, without_self_reference

__all__ = ["VerifyOptions", "ClaimJudge", "extract_claims", "verify_answer", "verify_answer_async", "prepare", "finish",
           "judge_targets", "judge_pairs", "apply_judgements", "answered_statement", "RISKS"]

RISKS = ("normal", "high")
# Reasons a judge cannot overrule: a hard check found the specific absent or contradicted.
_FINAL_REASONS = frozenset({"contradicted", "fabricated_number", "fabricated_name", "unsourced_attribution",
                            "denial_unsupported"})


@dataclass(frozen=True)
class VerifyOptions:
    """How to verify: `VerifyOptions(risk="high", rewrite="remove", max_answer_chars=100_000)`.

    `rewrite`: "mark" tags unsupported sentences, "remove" drops them (default: mark in normal
    risk, remove in high). `support`: the deterministic backend's calibrated knobs.
    """

    risk: str = "normal"
    rewrite: str | None = None
    max_answer_chars: int = 100_000
    support: SupportConfig = field(default_factory=SupportConfig)
    calibration: Calibration = field(default_factory=Calibration)
    limits: EvidenceLimits = field(default_factory=EvidenceLimits)


class ClaimJudge(Protocol):
    """An optional second opinion per claim (a classifier); returns (verdict, confidence) per pair."""

    name: str

    def judge(self, pairs: list[tuple[str, str]]) -> list[tuple[str, float]]: ...


def _check_text(value: Any, name: str, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}.")
    if limit is not None and len(value) > limit:
        raise AnswerTooLargeError(f"{name} is {len(value):,} characters; the limit is {limit:,}. "
                                  "Verify it in parts (for example one section at a time).")
    return value


def extract_claims(answer: str, max_chars: int = 100_000) -> list[Claim]:
    """Split `answer` into claims with offsets, marking those that are not check-worthy."""
    return split_claims(_check_text(answer, "answer", max_chars))


@dataclass
class Prepared:
    """An answer split into claims, its evidence, and the lexical verdicts (before any judge)."""

    answer: str
    question: str
    options: VerifyOptions
    evidence: EvidenceSet
    results: list[ClaimResult]
    evidence_error: str = ""


def prepare(answer: str, evidence: Iterable[Any] | None = None, paths: Iterable[str | os.PathLike] | None = None,
            question: str | None = None, options: VerifyOptions | None = None,
            base_dir: str | os.PathLike | None = None, *, within: Sequence[Path] | None = None) -> Prepared:
    """Validate input, load evidence, split claims and score each one with the deterministic backend.

    `within`: folders evidence files must really lie in (None: anywhere; the MCP adapter passes the
    project's); see `load_evidence`."""
    options = options or VerifyOptions()
    if options.risk not in RISKS:
        raise InvalidInputError(f"risk {options.risk!r} is not one of {', '.join(RISKS)}.")
    if options.rewrite not in (None, "mark", "remove"):
        raise InvalidInputError(f"rewrite {options.rewrite!r} is not 'mark' or 'remove'.")
    answer = _check_text(answer, "answer", options.max_answer_chars)
    question = _check_text(question or "", "question", 10_000)
    error = ""
    try:
        ev = load_evidence(evidence, paths, base_dir=base_dir, limits=options.limits, within=within)
    except (NotFoundError, EvidenceReadError) as exc:
        # Fail closed, not loud, in high risk: a missing or unreadable file is a reason to reject
        # the answer. Wrong argument types still raise: they are the caller's bug.
        if options.risk != "high":
            raise
        ev, error = EvidenceSet([]), str(exc)
    given = frozenset(terms(question).stems) if question else frozenset()
    matcher = Matcher(ev)
    results = []
    statements: dict[str, Any] = {}  # "No. No. No. ...": the question's statement is scored once
    for claim in split_claims(answer):
        check("Verifying the answer", "Each claim is checked against all the evidence: verify fewer claims "
              "or less evidence at once.")
        polarity, statement = answered_statement(claim.text, question)
        if not claim.check_worthy and not statement:
            results.append(ClaimResult(claim, "not_check_worthy"))
            continue
        if statement:
            claim = replace(claim, check_worthy=True, reason="")
            if statement not in statements:
                statements[statement] = score_claim(statement, ev, matcher, options.support)
            results.append(_yes_no_result(claim, polarity, statements[statement]))
            continue
        s = score_claim(without_self_reference(claim.text), ev, matcher, options.support, given)
        results.append(ClaimResult(claim, s.verdict, s.score, s.coverage, s.signals, s.citations, s.missing,
                                   features=s.features, nearby=s.nearby))
    for r in results:
        if r.claim.check_worthy:
            _settle(r, options.calibration)
    return Prepared(answer, question, options, ev, results, error)


def _settle(r: ClaimResult, calibration: Calibration) -> None:
    r.lean = r.verdict
    r.outcome, r.reason, r.probability = settle(r.verdict, r.signals, r.features, bool(r.citations), calibration)
    r.verdict = _VERDICT_OF.get(r.outcome) or ("contradicted" if r.reason == "contradicted" else "unsupported")


_VERDICT_OF = {"supported": "supported", "unsure": "unsure"}


_YES_NO = re.compile(r"^\W*(yes|yeah|yep|no|nope|not really|not quite|not exactly|not at all)\b"
                     r"(?:,? (?:it|they|he|she) (?:is|are|was|were|does|do|did)(?:n't| not)?)?\W*$", re.IGNORECASE)
_AUXILIARY = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would)\s+", re.IGNORECASE)


def answered_statement(answer: str, question: str) -> tuple[str, str]:
    """For a bare "yes" or "no" to a yes/no question: ("yes" or "no", the statement asked about), else ("", "").

    "Are both bands American?" asks about "both bands American"; "yes" affirms it, "no" denies it.
    """
    m = _YES_NO.match(answer)
    if not question or not m or expected_answer_type(question) != "yes_no":
        return "", ""
    polarity = "yes" if m.group(1).lower() in ("yes", "yeah", "yep") else "no"
    return polarity, _AUXILIARY.sub("", question.strip()).rstrip(" ?")


def _yes_no_result(claim: Claim, polarity: str, s: Any) -> ClaimResult:
    """ "yes" stands when the evidence supports the statement; "no" only when the evidence contradicts it.

    Missing evidence is never support for a "no": absence is not a denial.
    """
    if polarity == "yes":
        return ClaimResult(claim, s.verdict, s.score, s.coverage, s.signals, s.citations, s.missing,
                           features=s.features, nearby=s.nearby)
    if s.verdict == "contradicted":
        return ClaimResult(claim, "supported", s.coverage, s.coverage, [], s.citations, [])
    detail = "the evidence does not contradict the statement the question asks about"
    return ClaimResult(claim, "unsupported", 0.0, 0.0, [Signal("denial_unsupported", detail)], s.citations, [])


def judge_targets(prepared: Prepared, limit: int | None = None) -> list[ClaimResult]:
    """The claims a judge should see: check-worthy, with evidence found, not settled as supported and
    not failed by a hard check (unsure ones, and those only lexically missing, which paraphrase fools)."""
    todo = [r for r in prepared.results if r.claim.check_worthy and r.citations and r.outcome != "supported"
            and r.reason not in _FINAL_REASONS]
    return todo[:limit]


def judge_pairs(results: list[ClaimResult]) -> list[tuple[str, str]]:
    """(evidence, claim) pairs for a classifier judge: the packet's spans joined."""
    return [(" ".join(s.text for s in p.spans), p.text) for p in build_packets(results)]


def apply_judgements(prepared: Prepared, judgements: dict[int, Judgement], judge_name: str) -> list[str]:
    """Fold a judge's decisions into the claims it was shown; return notes on what was not applied.

    A hard-check failure stands whatever the judge says; "supported" keeps only the evidence
    spans the judge named as citations; "unsure" (or no decision) leaves the claim as it was.
    """
    notes = []
    targets = {r.claim.index: r for r in judge_targets(prepared)}
    packets = {p.claim: p for p in build_packets(list(targets.values()))}
    for idx, j in judgements.items():
        r = targets.get(idx)
        if r is None:
            notes.append(f"claim {idx} was not open to a judge; its verdict stands")
            continue
        r.judged_by = judge_name
        if j.verdict == "supported":
            spans = [packets[idx].spans[n - 1] for n in j.evidence if 0 < n <= len(packets[idx].spans)]
            r.outcome, r.reason, r.verdict = "supported", "", "supported"
            r.citations = spans or packets[idx].spans
            r.signals = [s for s in r.signals if s.name in HARD_SIGNALS]
            r.score = round(j.confidence if j.confidence is not None else 1.0, 4)
        elif j.verdict in ("not_supported", "contradicted"):
            r.outcome, r.verdict = "not_supported", ("contradicted" if j.verdict == "contradicted" else "unsupported")
            r.reason = "contradicted" if j.verdict == "contradicted" else "judged"
            r.score = 0.0
        if j.reason:
            r.signals = [*r.signals, Signal("judge", f"{judge_name}: {j.reason}", j.verdict == "contradicted")]
    return notes


def finish(prepared: Prepared, backend: str = "lexical", notes: Sequence[str] = ()) -> VerificationReport:
    """Add answer-level signals, decide the status for the risk mode, and build the rewrite."""
    p, options = prepared, prepared.options
    signals: list[tuple[int | None, Signal]] = []
    for r in p.results:
        signals += [(r.claim.index, s) for s in unanchored_time(r.claim.text)] if r.claim.check_worthy else []
    signals += [(None, s) for s in fabricated_specifics(p.answer, p.evidence, p.question)]
    signals += [(None, s) for s in unsourced_authority(p.answer, p.evidence)]
    signals += [(None, s) for s in drift(p.answer, p.question)]
    checkable = [r for r in p.results if r.claim.check_worthy]
    supported = [r for r in checkable if r.outcome == "supported"]
    refuted = [r for r in checkable if r.outcome == "not_supported"]
    score = round(sum(r.score for r in checkable) / len(checkable), 4) if checkable else 0.0
    reasons = _reasons(p, checkable, signals)
    if options.risk == "high":
        status = "accepted" if not reasons else "rejected"
    elif not checkable:
        status = "no_claims"
    elif len(supported) == len(checkable):
        status = "supported"
    elif not refuted:
        status = "unsure"
    else:
        status = "unsupported" if len(refuted) == len(checkable) else "partially_supported"
    mode = options.rewrite or ("remove" if options.risk == "high" else "mark")
    return VerificationReport(options.risk, status, score, p.results, signals, reasons,
                              grounded_rewrite(p.answer, p.results, mode), backend, list(p.evidence.skipped),
                              list(notes))


def _reasons(p: Prepared, checkable: list[ClaimResult], signals: list[tuple[int | None, Signal]]) -> list[str]:
    reasons = []
    if p.evidence_error:
        reasons.append(f"evidence could not be read: {p.evidence_error}")
    elif not p.evidence.sentences:
        reasons.append("no evidence was given, so no claim can be supported")
    if not checkable:
        reasons.append("the answer has no check-worthy claim")
    for r in checkable:
        if r.outcome == "unsure":
            found = "; ".join(s.detail for s in r.signals)  # doubts, and checks that only lean against it
            why = found or f"the evidence is related but does not settle it (p={r.probability:.2f})"
            reasons.append(f"claim {r.claim.index} is unsure: {why}; a judge can decide it")
        elif r.outcome != "supported":
            why = "; ".join(s.detail for s in r.signals) or f"only {r.coverage:.0%} of its terms are in the evidence"
            because = f" ({r.reason})" if r.reason != r.verdict else ""
            reasons.append(f"claim {r.claim.index} is {r.verdict}{because}: {why}")
    seen = set()
    for _, s in signals:
        if s.name not in seen:
            seen.add(s.name)
            reasons.append(f"{s.name.replace('_', ' ')}: {s.detail}")
    return reasons


def verify_answer(answer: str, evidence: Iterable[Any] | None = None,
                  paths: Iterable[str | os.PathLike] | None = None, question: str | None = None,
                  options: VerifyOptions | None = None, *, judge: ClaimJudge | None = None,
                  base_dir: str | os.PathLike | None = None,
                  within: Sequence[Path] | None = None) -> VerificationReport:
    """Check each claim of `answer` against the evidence and return a `VerificationReport`.

    `evidence`: strings or {id, source, text} objects; `paths`: text/markdown files or globs.
    `judge`: an optional classifier (see `skilldeck.tools.verify.nli`) consulted for the claims
    `judge_targets` picks.
    """
    prepared = prepare(answer, evidence, paths, question, options, base_dir, within=within)
    if judge is None:
        return finish(prepared)
    todo = judge_targets(prepared)
    notes: list[str] = []
    if todo:
        out = judge.judge(judge_pairs(todo))
        # A classifier cannot name spans: a "supported" rests on all the spans it read.
        decided = {r.claim.index: Judgement("not_supported" if v == "unsupported" else v, (1, 2, 3), "", c)
                   for r, (v, c) in zip(todo, out)}
        notes = apply_judgements(prepared, decided, judge.name)
    return finish(prepared, f"lexical+{judge.name}", notes)


async def verify_answer_async(answer: str, evidence: Iterable[Any] | None = None,
                              paths: Iterable[str | os.PathLike] | None = None, question: str | None = None,
                              options: VerifyOptions | None = None, *, judge: Any = None,
                              base_dir: str | os.PathLike | None = None,
                              within: Sequence[Path] | None = None) -> VerificationReport:
    """Like `verify_answer`, with an async LLM judge (`skilldeck.tools.verify.judge.LLMJudge`).

    The CPU work (splitting, scoring, folding verdicts in) runs on a worker thread."""
    import anyio.to_thread

    def first() -> Prepared:
        return prepare(answer, evidence, paths, question, options, base_dir, within=within)

    prepared = await anyio.to_thread.run_sync(first)
    if judge is None:
        return await anyio.to_thread.run_sync(finish, prepared)
    todo = judge_targets(prepared)
    notes: list[str] = []
    if todo:
        decided, notes = await judge.judge(build_packets(todo))
        notes += apply_judgements(prepared, decided, judge.name)
    return await anyio.to_thread.run_sync(finish, prepared, f"lexical+{judge.name}", notes)
