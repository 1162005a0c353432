"""MCP adapter for claim verification: extract_claims and verify_answer.

`verify_answer(judge="client")` asks the client's own model, through MCP sampling, to judge the
claims the deterministic checks did not already fail; without sampling support it falls back to
the deterministic backend and says so.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import mcp.types as types
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import NoBackChannelError
from pydantic import BaseModel, Field

from skilldeck.server.errors import tool_errors

__all__ = ["register", "EvidenceObject", "sampling_completer", "TOOLSET"]

TOOLSET = "check an answer's claims against evidence, with citations; fail closed in high-risk mode"


class EvidenceObject(BaseModel):
    """One piece of evidence with its provenance."""

    text: str = Field(description="The evidence text")
    id: str | None = Field(None, description="Identifier to cite (default e1, e2, ...)")
    source: str | None = Field(None, description="Where it came from: URL, title or file")


def sampling_completer(ctx: Context, max_tokens: int = 1024):
    """A `complete(system, prompt)` function that asks the client's model through MCP sampling."""

    async def complete(system: str, prompt: str) -> str:
        with warnings.catch_warnings():
            # Sampling is deprecated from protocol 2026-07-28 on, yet it is how today's clients lend
            # their model to a server; the warning must not turn into an error here.
            warnings.simplefilter("ignore")
            result = await ctx.session.create_message(
                [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
                max_tokens=max_tokens, system_prompt=system, temperature=0.0)
        content = result.content
        return content.text if isinstance(content, types.TextContent) else ""

    return complete


def _sized(payload: dict) -> dict:
    """Add the payload's size in tokens (an estimate), as every skilldeck payload reports it."""
    import json

    from skilldeck.tools.tokens import count_tokens

    payload["tokens"] = count_tokens(json.dumps(payload, ensure_ascii=False))
    return payload


def _client_samples(ctx: Context) -> bool:
    caps = getattr(ctx.session, "client_capabilities", None)
    return bool(caps and getattr(caps, "sampling", None))


def register(mcp: Any, services: Any) -> None:
    base_dir = services.settings.project_dir or Path.cwd()

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
        from skilldeck.tools.verify import VerifyOptions
        from skilldeck.tools.verify.judge import LLMJudge
        from skilldeck.tools.verify.verifier import apply_judgements, finish, prepare

        items = [e.model_dump(exclude_none=True) if isinstance(e, EvidenceObject) else e for e in evidence or []]
        options = VerifyOptions(risk=risk, rewrite=rewrite)
        with tool_errors():
            prepared = await anyio.to_thread.run_sync(
                lambda: prepare(answer, items or None, paths, question, options, base_dir))
            note = ""
            backend = "lexical"
            if judge == "client":
                if ctx is not None and _client_samples(ctx):
                    llm = LLMJudge(sampling_completer(ctx), name="client-llm")
                    todo = [r for r in prepared.results if r.claim.check_worthy and r.citations]
                    try:
                        if todo:
                            out = await llm.judge([(" ".join(c.text for c in r.citations), r.claim.text)
                                                   for r in todo])
                            apply_judgements(prepared, {r.claim.index: v for r, v in zip(todo, out)}, llm.name)
                        backend = "lexical+client-llm"
                    except NoBackChannelError:
                        # 2026-07-28 connections forbid server-initiated requests; sampling there needs
                        # the multi-round-trip flow, which this adapter does not implement yet.
                        note = "this connection cannot carry sampling requests; used the deterministic backend only"
                else:
                    note = "the client does not support sampling; used the deterministic backend only"
            report = finish(prepared, backend).to_dict()
            if note:
                report["note"] = note
            return _sized(report)
