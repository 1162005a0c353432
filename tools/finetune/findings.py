"""What the dataset validator reports: findings with locations, and the report around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Finding", "ValidationReport", "MAX_LOCATIONS"]

MAX_LOCATIONS = 20
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    """One problem kind found in the data. `locations` are ``file:line`` strings (first few)."""

    kind: str
    severity: str
    message: str
    count: int
    locations: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationReport:
    """Everything `validate_dataset` found, ready to return as JSON or as text."""

    files: dict[str, str]
    records: dict[str, int]
    tasks: dict[str, int]
    findings: list[Finding]
    token_stats: dict[str, Any]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def by_kind(self, kind: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "records": self.records, "tasks": self.tasks,
                "token_stats": self.token_stats, "seconds": round(self.seconds, 2),
                "findings": [f.to_dict() for f in sorted(self.findings, key=lambda f: SEVERITY_ORDER[f.severity])]}

    def render(self) -> str:
        """A short text summary, most severe findings first."""
        total = sum(self.records.values())
        head = "OK: no blocking problems" if self.ok else "NOT READY: fix the errors below before training"
        lines = [f"{head}. {total} records ({', '.join(f'{k} {v}' for k, v in self.records.items())}); "
                 f"{len(self.tasks)} task(s)."]
        ts = self.token_stats
        if ts.get("count"):
            lines.append(f"Tokens per example: median {ts['median']}, p95 {ts['p95']}, max {ts['max']}; "
                         f"{ts['over_limit']} over {ts['max_seq_len']} ({ts['counter']}).")
        for f in sorted(self.findings, key=lambda f: SEVERITY_ORDER[f.severity]):
            where = ", ".join(f.locations[:8]) + (" ..." if f.count > 8 else "")
            lines.append(f"- [{f.severity}] {f.kind} ({f.count}): {f.message}" + (f" At {where}." if where else ""))
        return "\n".join(lines)
