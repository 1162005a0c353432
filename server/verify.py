"""MCP adapter for claim verification: extract_claims and verify_answer.

`verify_answer(judge="client")` asks the client's own model, through MCP sampling, to judge the
claims the deterministic checks did not already fail. The sampling requests come from resolvers
(`Resolve` / `Sample` of the SDK), so they work on both kinds of connection: mid-call requests on
handshake-era ones, the input-required round trip on 2026-07-28 ones. A reply that breaks the
JSON contract gets one repair request. Without sampling support, or when the client's model
fails the contract twice, the deterministic verdicts stand and the report says so in `note`.
"""

# No `from __future__ import annotations` here: the tool's `Resolve(...)` annotations name
# resolvers local to register(), which only eager evaluation can see.
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
NO_SAMPLING = "the client does not support sampling; used the deterministic backend only"


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


def register(mcp: Any, services: Any) -> None:
    where = Confinement.from_settings(services.settings)
    base_dir = where.project

    def prepared_input(answer: str, evidence: list | None = None, paths: list[str] | None = None,
                       question: str | None = None, risk: str = "normal", rewrite: str | None = None) -> Any:
        """The answer split and scored once per call: the sampling prompts and the tool body share it,
        so the claims the client's model judged are the claims the verdicts are applied to.
        Returns the `Prepared` answer, or the error to report (raised in the tool body)."""
        from skilldeck.tools.errors import SkilldeckError
        from skilldeck.tools.verify import VerifyOptions
        from skilldeck.tools.verify.verifier import prepare

        items = [e.model_dump(exclude_none=True) if isinstance(e, EvidenceObject) else e for e in evidence or []]
        try:
            # Each path is checked here (errors name the item: "paths[2] ..."); each file a glob
            # matches is checked again as it is opened, and one that leads outside is left unread.
            checked = where.allowed_paths(paths, "paths") if paths else paths
            return prepare(answer, items or None, checked, question, VerifyOptions(risk=risk, rewrite=rewrite),
                           base_dir, within=where.bases("data"))
        except SkilldeckError as exc:
            return exc

    def judge_pairs(prepared: Any) -> list[tuple[str, str]]:
        from skilldeck.tools.verify.verifier import judge_targets

        return [] if isinstance(prepared, Exception) else judge_targets(prepared, MAX_JUDGED_CLAIMS)[1]

    def ask_client(ctx: Context, prepared: Annotated[Any, Resolve(prepared_input)],
                   judge: str = "none") -> Sample | None:
        """First sampling request: the claims and their evidence, under the JSON contract."""
        from skilldeck.tools.verify.judge import build_prompt

        if judge != "client" or not _client_samples(ctx):
            return None
        pairs = judge_pairs(prepared)
        return _sample(build_prompt(pairs)) if pairs else None

    def repair_client(first: Annotated[types.CreateMessageResult | None, Resolve(ask_client)],
                      prepared: Annotated[Any, Resolve(prepared_input)]) -> Sample | None:
        """Second request, only when the first reply broke the contract: name the problem, ask again."""
        from skilldeck.tools.verify.judge import build_prompt, parse_verdicts

        if first is None:
            return None
        pairs = judge_pairs(prepared)
        try:
            parse_verdicts(_reply_text(first), len(pairs))
            return None
        except ValueError as exc:
            return _sample(f"{build_prompt(pairs)}\n\nYour previous reply broke the JSON contract: {exc}. "
                           f"Previous reply:\n{_reply_text(first)[:2000]}\n\nReply again with ONLY the JSON object.")

    @mcp.tool()
    def extract_claims(
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

    @mcp.tool()
    async def verify_answer(
        answer: Annotated[str, Field(description="The answer to check, as it would be shown to the user")],
        first_reply: Annotated[types.CreateMessageResult | None, Resolve(ask_client)],
        second_reply: Annotated[types.CreateMessageResult | None, Resolve(repair_client)],
        prepared: Annotated[Any, Resolve(prepared_input)],
        evidence: Annotated[list[str | EvidenceObject] | None, Field(
            description="Evidence texts: plain strings or {text, id, source} objects")] = None,
        paths: Annotated[list[str] | None, Field(
            description="Local text/markdown files or globs (e.g. 'docs/**/*.md'), relative to the project")] = None,
        question: Annotated[str | None, Field(description="The question the answer responds to (enables the "
                                                         "drift check)")] = None,
        risk: Annotated[Literal["normal", "high"], Field(
            description="'high' fails closed: any unsupported claim or warning rejects the answer")] = "normal",
        judge: Annotated[Literal["none", "client"], Field(
            description="'client' also asks your own model (MCP sampling) to judge each claim")] = "none",
        rewrite: Annotated[Literal["mark", "remove"] | None, Field(
            description="Grounded rewrite: mark or remove unsupported sentences (default: mark; remove in high risk)")
        ] = None,
        ctx: Context = None,  # type: ignore[assignment]
    ) -> dict:
        """Check an answer's claims against evidence before presenting it; cites where support is.

        Returns per-claim verdicts (supported / unsupported / contradicted / not_check_worthy) with
        the signals that fired (numbers, names, negation, attribution) and citations (evidence id,
        span, quote); answer-level signals (fabricated specifics, unsourced authority, drift, time
        words without a date); a status; and a grounded rewrite without the unsupported claims.
        Give evidence inline or as file paths; use risk='high' for medical, legal or financial answers.
        """
        from skilldeck.tools.verify.judge import parse_verdicts
        from skilldeck.tools.verify.verifier import apply_judgements, finish, judge_targets

        with tool_errors():
            if isinstance(prepared, Exception):
                raise prepared
            note, backend = "", "lexical"
            reply = second_reply or first_reply
            if judge == "client" and reply is None and not _client_samples(ctx):
                note = NO_SAMPLING
            elif reply is not None:
                todo, pairs = judge_targets(prepared, MAX_JUDGED_CLAIMS)
                try:
                    verdicts = parse_verdicts(_reply_text(reply), len(pairs))
                except ValueError as exc:
                    note = f"the client's model broke the JSON contract twice ({exc}); deterministic verdicts only"
                else:
                    apply_judgements(prepared, {r.claim.index: v for r, v in zip(todo, verdicts)}, "client-llm")
                    backend = "lexical+client-llm"
            report = finish(prepared, backend).to_dict()
            if note:
                report["note"] = note
            return _sized(report)
