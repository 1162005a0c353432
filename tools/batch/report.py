"""Run reports: results, requests, 429 share, retry overhead, tokens and cost, from the journal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from skilldeck.tools.batch.journal import JournalState
from skilldeck.tools.batch.prices import cost_of
from skilldeck.tools.batch.tasks import Task

__all__ = ["summarize"]


def summarize(state: JournalState, tasks: Sequence[Task], model: str, *, batch_api: bool = False,
              prices: dict[str, Any] | None = None, elapsed_s: float | None = None) -> dict[str, Any]:
    """Figures for the whole job (every session of a resumed run), from its journal."""
    ids = {t.id for t in tasks}
    results = [r for tid, r in state.results.items() if tid in ids]
    statuses = Counter(r["status"] for r in results)
    reqs = state.requests
    kinds = Counter(r.get("status") for r in reqs)
    tokens = lambda rs: sum(r.get("input_tokens", 0) + r.get("output_tokens", 0) for r in rs)  # noqa: E731
    first = tokens([r for r in reqs if r.get("first")])
    repeat = tokens([r for r in reqs if not r.get("first")])
    billed = [r for r in reqs if r.get("status") == "ok"]
    input_tokens = sum(r.get("input_tokens", 0) for r in billed)
    output_tokens = sum(r.get("output_tokens", 0) for r in billed)
    cached = sum(r.get("cached_input_tokens", 0) for r in billed)
    out: dict[str, Any] = {
        "tasks": len(ids), "answered": len(results), "unanswered": len(ids) - len(results),
        "ok": statuses.get("ok", 0), "insufficient_data": statuses.get("INSUFFICIENT_DATA", 0),
        "failed": statuses.get("failed", 0),
        "failures": [{"id": r["id"], "reason": r.get("reason", "")} for r in results if r["status"] == "failed"][:10],
        "requests": len(reqs), "requests_by_outcome": dict(kinds),
        "rate_limited_share": round(kinds.get("rate_limit", 0) / len(reqs), 4) if reqs else 0.0,
        "repaired_answers": sum(1 for r in reqs if r.get("repairs")),
        "misattributed_rejected": sum(r.get("misattributed", 0) for r in reqs),
        "near_misses": dict(sum((Counter(r.get("near_misses") or {}) for r in reqs), Counter())),
        "retry_token_overhead": round(repeat / first, 4) if first else 0.0,
        "tokens": {"input": input_tokens, "cached_input": cached, "output": output_tokens},
        "cost": cost_of(model, input_tokens, output_tokens, cached, batch_api, prices),
    }
    if elapsed_s is not None:
        # The rate counts the whole job: after a resume, every session's time and every answer.
        active = state.active_seconds(elapsed_s)
        out["elapsed_s"] = round(elapsed_s, 2)
        out["sessions"] = max(1, len(state.sessions))
        out["job_active_s"] = round(active, 2)
        out["tasks_per_minute"] = round(60.0 * len(results) / active, 1) if active > 0 else None
    return out
