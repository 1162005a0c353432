"""Claim verification: split an answer into claims, check each against evidence, cite, fail closed.

The default backend is deterministic (no model): retrieval of the best evidence window, weighted
coverage, and hard checks on numbers, names, negation and attribution. Optional judges: a local
sequence-classification model (`nli`) and an LLM (`judge`), both imported lazily.
"""

from skilldeck.tools.verify.claims import Claim, split_claims
from skilldeck.tools.verify.errors import AnswerTooLargeError, JudgeError, VerifyError
from skilldeck.tools.verify.evidence import EvidenceLimits, EvidenceSet, load_evidence
from skilldeck.tools.verify.report import ClaimResult, VerificationReport, render_text
from skilldeck.tools.verify.support import SupportConfig
from skilldeck.tools.verify.verifier import RISKS, VerifyOptions, extract_claims, verify_answer, verify_answer_async

__all__ = [
    "AnswerTooLargeError", "Claim", "ClaimResult", "EvidenceLimits", "EvidenceSet", "JudgeError", "RISKS",
    "SupportConfig", "VerificationReport", "VerifyError", "VerifyOptions", "extract_claims", "load_evidence",
    "render_text", "split_claims", "verify_answer", "verify_answer_async",
]
