"""MCP adapter for claim verification: extract_claims, verify_answer and record_judgments.

Two ways for a model to judge the claims the deterministic backend leaves open (unsure, or
only lexically missing), under one contract (`skilldeck.tools.verify.judge`):

- `judge="host"`: the answer comes back with compact judgment packets and a `verification_id`;
  the calling model decides them itself and calls `record_judgments`, which folds the decisions
  into the final report. Works in every client (Claude Code has no sampling).
- `judge="client"`: the server asks the client's model through MCP sampling. The requests come
  from resolvers (`Resolve` / `Sample` of the SDK), so they work on both kinds of connection. A
  reply that breaks the contract gets one repair request; claims still undecided stay unsure.
  A client without sampling gets host packets instead, and the report says so in `note`.

The CPU work runs on worker threads, never on the event loop.
"""

# No `from __future__ import annotations` here: the tool's `Resolve(...)` annotations name
# resolvers local to register(), which only eager evaluation can see.
import functools
import json
from typing import Annotated, Any, Literal

import mcp.types as types
from mcp.server.mcpserver import Context, Resolve, Sample
from pydantic import BaseModel, Field

from skilldeck.server.errors import tool_errors
from skilldeck.server.paths import Confinement

__all__ = ["register", "EvidenceObject", "TOOLSET"]

TOOLSET = "check an answer's claims against evidence, with citations; fail closed in high-risk mode"
# Claims sent to the client's model in one sampling request; the rest keep deterministic verdicts.
MAX_JUDGED_CLAIMS = 40
NO_SAMPLING = ("the client does not support sampling; judge the packets in `judgment` yourself and call "
               "record_judgments (judge='host' does this directly)")


class EvidenceObject(BaseModel):
    """One piece of evidence with its provenance."""

    text: str = Field(description="The evidence text")
    id: str | None = Field(None, description="Identifier to cite (default e1, e2, ...)")
    source: str | None = Field(None, description="Where it came from: URL, title or file")


def _sized(payload: dict) -> dict:
    """Add the payload's size in tokens (an estimate), as every skilldeck payload reports it."""
    from skilldeck.tools.tokens import count_tokens

    payload["tokens"] = count_tokens(json.dumps(payload, ensure_ascii=False))
    return payload


def _client_samples(ctx: Context | None) -> bool:
    caps = ctx.client_capabilities if ctx is not None else None
    return bool(caps and caps.sampling)


def _reply_text(result: Any) -> str:
    content = getattr(result, "content", None)
    return content.text if isinstance(content, types.TextContent) else ""


def _sample(prompt: str) -> Sample:
    from skilldeck.tools.verify.judge import SYSTEM_PROMPT

    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
    return Sample([message], max_tokens=2048, system_prompt=SYSTEM_PROMPT, temperature=0.0)


class VerifyTools:
    """What the verify tools share: the confinement of evidence paths and the ledger of open host
    judgments. `extract_claims` and `record_judgments` are its methods; `verify_answer`, whose
    resolvers must be named in its annotations, is built in `register` around it."""

    def __init__(self, services: Any) -> None:
        self.where = Confinement.from_settings(services.settings)

    @functools.cached_property
    def ledger(self) -> Any:
        # Built on first use: importing the verify engine costs start-up time no client may need.
        from skilldeck.tools.verify.ledger import JudgmentLedger

        return JudgmentLedger(max_packets=MAX_JUDGED_CLAIMS)

    def prepared_input(self, answer: str, evidence: list | None = None, paths: list[str] | None = None,
                       question: str | None = None, risk: str = "normal", rewrite: str | None = None) -> Any:
        """The answer split and scored once per call: the sampling prompts and the tool body share it,
        so the claims the client's model judged are the claims the verdicts are applied to.
        Returns the `Prepared` answer, or the error to report (raised in the tool body).
        (The SDK runs sync resolvers on a worker thread.)"""
        from skilldeck.tools.errors import SkilldeckError
        from skilldeck.tools.verify import VerifyOptions
        from skilldeck.tools.verify.verifier import prepare

        items = [e.model_dump(exclude_none=True) if isinstance(e, EvidenceObject) else e for e in evidence or []]
        try:
            # Each path is checked here (errors name the item: "paths[2] ..."); each file a glob
            # matches is checked again as it is opened, and one that leads outside is left unread.
            checked = self.where.allowed_paths(paths, "paths") if paths else paths
            return prepare(answer, items or None, checked, question, VerifyOptions(risk=risk, rewrite=rewrite),
                           self.where.project, within=self.where.bases("data"))
        except SkilldeckError as exc:
            return exc

    def packets_of(self, prepared: Any) -> list:
        from skilldeck.tools.verify.judge import build_packets
        from skilldeck.tools.verify.verifier import judge_targets

        return [] if isinstance(prepared, Exception) else build_packets(judge_targets(prepared, MAX_JUDGED_CLAIMS))

    def judged_report(self, prepared: Any, judge: str, first: Any, second: Any, can_sample: bool) -> dict:
        """The tool body's CPU work (run on a worker thread): fold replies in, or open host packets."""
        from skilldeck.tools.verify.judge import parse_verdicts
        from skilldeck.tools.verify.verifier import apply_judgements, finish

        note, handoff, notes = "", None, []
        if judge == "host" or (judge == "client" and first is None and not can_sample):
            handoff = self.ledger.open(prepared)
            note = NO_SAMPLING if judge == "client" else ""
            backend = "lexical"
        elif first is not None:
            packets = self.packets_of(prepared)
            found, problems = parse_verdicts(_reply_text(first), packets)
            if problems and second is not None:
                again, problems = parse_verdicts(_reply_text(second), packets)
                found |= again
            if problems:
                notes.append(f"the client's model broke the JSON contract twice ({'; '.join(problems[:3])}); "
                             "the claims it left undecided stay unsure")
            notes += apply_judgements(prepared, found, "client-llm")
            backend = "lexical+client-llm"
        else:
            backend = "lexical"
        report = finish(prepared, backend, notes).to_dict()
        if handoff is not None:
            report["judgment"] = handoff
        if note:
            report["note"] = note
        return _sized(report)

    def extract_claims(
        self,
        answer: Annotated[str, Field(description="The text to split into claims")],
    ) -> dict:
        """Split a text into atomic, checkable claims with character offsets.

        Marks lines that cannot be checked (questions, hedges, opinions, "Note:"/"TL;DR" lines)
        instead of scoring them. Use it to see what verify_answer will check.
        """
        from skilldeck.tools.verify import extract_claims as extract

        with tool_errors():
            claims = extract(answer)
            return _sized({"count": len(claims), "check_worthy": sum(c.check_worthy for c in claims),
                           "claims": [c.to_dict() for c in claims]})

    def record_judgments(
        self,
        verification_id: Annotated[str, Field(description="The id verify_answer returned in judgment")],
        judgments: Annotated[list[dict[str, Any]], Field(
            description='One per packet: {"claim": <number>, "verdict": "supported|not_supported|contradicted|'
                        'unsure", "evidence": [<span numbers a supported rests on>], "reason": "<a few words>"}')],
    ) -> dict:
        """Fold your decisions on verify_answer's judgment packets into the final report.

        Same rules as the deterministic backend: a hard-check failure stands, a "supported" must
        name the evidence spans it rests on (they become its citations), a claim you did not
        decide stays unsure, and risk='high' rejects any claim that is not supported. Returns the
        full report (status, claims, reasons, rewrite). Each verification_id can be recorded once.
        """
        with tool_errors():
            return _sized(self.ledger.record(verification_id, judgments).to_dict())


def register(mcp: Any, services: Any) -> None:
    tools = VerifyTools(services)
    mcp.tool()(tools.extract_claims)

    def ask_client(ctx: Context, prepared: Annotated[Any, Resolve(tools.prepared_input)],
                   judge: str = "none") -> Sample | None:
        """First sampling request: the open claims as packets, under the JSON contract."""
        from skilldeck.tools.verify.judge import build_prompt

        if judge != "client" or not _client_samples(ctx):
            return None
        packets = tools.packets_of(prepared)
        return _sample(build_prompt(packets)) if packets else None

    def repair_client(first: Annotated[types.CreateMessageResult | None, Resolve(ask_client)],
                      prepared: Annotated[Any, Resolve(tools.prepared_input)]) -> Sample | None:
        """Second request, only when the first reply broke the contract: name the problems, ask again."""
        from skilldeck.tools.verify.judge import build_prompt, parse_verdicts, repair_prompt

        if first is None:
            return None
        packets = tools.packets_of(prepared)
        _, problems = parse_verdicts(_reply_text(first), packets)
        return _sample(repair_prompt(build_prompt(packets), _reply_text(first), problems)) if problems else None

    @mcp.tool()
    async def verify_answer(
        answer: Annotated[str, Field(description="The answer to check, as it would be shown to the user")],
        first_reply: Annotated[types.CreateMessageResult | None, Resolve(ask_client)],
        second_reply: Annotated[types.CreateMessageResult | None, Resolve(repair_client)],
        prepared: Annotated[Any, Resolve(tools.prepared_input)],
        evidence: Annotated[list[str | EvidenceObject] | None, Field(
            description="Evidence texts: plain strings or {text, id, source} objects")] = None,
        paths: Annotated[list[str] | None, Field(
            description="Local text/markdown files or globs (e.g. 'docs/**/*.md'), relative to the project")] = None,
        question: Annotated[str | None, Field(description="The question the answer responds to (enables the "
                                                         "drift check)")] = None,
        risk: Annotated[Literal["normal", "high"], Field(
            description="'high' fails closed: any claim not supported (unsure included) or warning rejects")] = "normal",
        judge: Annotated[Literal["none", "host", "client"], Field(
            description="'host': get judgment packets for the unsettled claims, decide them yourself and call "
                        "record_judgments (works in every client); 'client': ask your model via MCP sampling")
        ] = "none",
        rewrite: Annotated[Literal["mark", "remove"] | None, Field(
            description="Grounded rewrite: mark or remove unsupported sentences (default: mark; remove in high risk)")
        ] = None,
        ctx: Context = None,  # type: ignore[assignment]
    ) -> dict:
        """Check an answer's claims against evidence before presenting it; cites where support is.

        Each claim is supported, not supported (reason: contradicted, fabricated_number,
        fabricated_name, unsourced_attribution, missing...) or unsure, with the signals that fired
        and citations (evidence id, span, quote); plus answer-level signals, a status and a grounded
        rewrite. "supported" is calibrated to be rarely wrong; unsure claims need a judge: pass
        judge='host', decide the returned `judgment.packets` from their evidence, then call
        record_judgments. Use risk='high' for medical, legal or financial answers.
        """
        import anyio.to_thread

        with tool_errors():
            if isinstance(prepared, Exception):
                raise prepared
            can_sample = _client_samples(ctx)
            return await anyio.to_thread.run_sync(tools.judged_report, prepared, judge, first_reply, second_reply,
                                                  can_sample)

    mcp.tool()(tools.record_judgments)
