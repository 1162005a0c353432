"""The host model as judge, without sampling: packets out now, the model's decisions folded back later.

    ledger = JudgmentLedger()
    handoff = ledger.open(prepared)                  # {"verification_id": ..., "packets": [...], ...}
    report = ledger.record(handoff["verification_id"], [{"claim": 3, "verdict": "supported", "evidence": [1]}])

Between the two calls the prepared answer waits here, under an unguessable id, for at most
`ttl_s` seconds and among at most `capacity` others, within bounds on the evidence and the claims
they keep all together (the oldest goes first). `record` applies the same rules as every judge
(`judge.parse_verdicts`, `verifier.apply_judgements`): a claim the model did not decide, or decided
outside the contract, stays unsure, and in high risk an unsure claim rejects the answer. Each id
can be recorded once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.verify.judge import SYSTEM_PROMPT, build_packets, parse_verdicts
from skilldeck.tools.verify.report import VerificationReport
from skilldeck.tools.verify.verifier import Prepared, apply_judgements, finish, judge_targets

__all__ = ["JudgmentLedger", "HOST_INSTRUCTIONS"]

HOST_INSTRUCTIONS = (
    "Judge each packet yourself, from its evidence spans only (not from what you know): " + SYSTEM_PROMPT.split(
        "You check claims against evidence. ", 1)[1].split(" Reply with ONLY")[0]
    + " Then call record_judgments with verification_id and judgments=[{claim, verdict, evidence, reason}], "
      "one per packet. Claims you leave out stay unsure.")


def _tokens(value: Any) -> int:
    import json

    from skilldeck.tools.tokens import count_tokens

    return count_tokens(json.dumps(value, ensure_ascii=False))


MAX_OPEN_EVIDENCE_CHARS = 8_000_000  # evidence text kept by open verifications, all together
MAX_OPEN_CLAIMS = 40_000  # claim results kept by open verifications, all together (about 4 KB each)


class JudgmentLedger:
    """Prepared answers awaiting the host model's judgments (thread-safe; in memory only)."""

    def __init__(self, capacity: int = 64, ttl_s: float = 3600.0, max_packets: int = 40,
                 max_evidence_chars: int = MAX_OPEN_EVIDENCE_CHARS, max_claims: int = MAX_OPEN_CLAIMS) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self.max_packets = max_packets
        self.max_evidence_chars = max_evidence_chars
        self.max_claims = max_claims
        self._open: OrderedDict[str, tuple[float, Prepared]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, prepared: Prepared) -> dict[str, Any]:
        """Keep `prepared` and return the hand-off: id, instructions, packets and their token cost."""
        packets = build_packets(judge_targets(prepared, self.max_packets))
        shown = [p.to_dict() for p in packets]
        out: dict[str, Any] = {"packets": shown, "instructions": HOST_INSTRUCTIONS if packets else
                               "Nothing to judge: every claim is settled."}
        if packets:
            ident = secrets.token_urlsafe(12)
            with self._lock:
                self._expire()
                self._open[ident] = (time.monotonic(), prepared)
                # The oldest go first past any bound: a verification keeps its whole evidence (the
                # answer-level checks read it again) and every claim's result; ten of 4 MB of evidence
                # each held 790 MB for an hour, and so did 64 answers of 3,000 short claims each.
                while len(self._open) > 1 and (len(self._open) > self.capacity or self._over()):
                    self._open.popitem(last=False)
            per_claim = round(sum(_tokens(p) for p in shown) / len(shown))
            out = {"verification_id": ident, **out, "tokens_per_claim": per_claim,
                   "tokens_instructions": _tokens(HOST_INSTRUCTIONS)}
        return out

    def record(self, ident: str, judgments: Any, judge_name: str = "host-model") -> VerificationReport:
        """Fold the host model's judgments into the answer kept under `ident` and return its report."""
        with self._lock:
            self._expire()
            entry = self._open.pop(ident, None) if isinstance(ident, str) else None
        if entry is None:
            raise NotFoundError(f"no open verification {str(ident)[:40]!r}: it was already recorded, has expired "
                                f"(after {self.ttl_s:.0f} s) or never existed. Call verify_answer with "
                                "judge='host' again.")
        if not isinstance(judgments, list):
            raise InvalidInputError("judgments must be a list of {claim, verdict, evidence, reason} objects.")
        prepared = entry[1]
        packets = build_packets(judge_targets(prepared, self.max_packets))
        found, problems = parse_verdicts({"verdicts": judgments}, packets)
        notes = [f"judgments outside the contract were not applied ({'; '.join(problems[:5])}); "
                 "those claims stay unsure"] if problems else []
        notes += apply_judgements(prepared, found, judge_name)
        return finish(prepared, f"lexical+{judge_name}", notes)

    def _over(self) -> bool:
        kept = [p for _, p in self._open.values()]
        return (sum(len(p.evidence.lowered) for p in kept) > self.max_evidence_chars
                or sum(len(p.results) for p in kept) > self.max_claims)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._open:
            ident, (born, _) = next(iter(self._open.items()))
            if now - born <= self.ttl_s:
                break
            self._open.pop(ident)
