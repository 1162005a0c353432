"""The judge contract: judgment packets out, strict JSON verdicts back, one repair pass.

One contract serves every model judge: the host model deciding packets itself (`record_judgments`),
the client's model through MCP sampling, and an OpenAI-compatible HTTP endpoint. A packet is one
claim the deterministic backend could not settle, with its best two or three evidence spans
(numbered, each with its citation) and what the hard checks found:

    {"claim": 3, "text": "...", "evidence": [{"n": 1, "cite": "e1:12", "quote": "..."}], "checks": ["..."]}

The reply is only this JSON object, one entry per packet:

    {"verdicts": [{"claim": 3, "verdict": "supported", "evidence": [1], "reason": "..."}]}

`verdict` is supported / not_supported / contradicted / unsure; a "supported" must name the
evidence numbers it rests on (they become the claim's citations). A reply that breaks the
contract gets one repair request naming the problem; after that, entries that are still
invalid or missing leave their claims unsure, and so does a claim given two verdicts. A reply
over `MAX_REPLY_CHARS`, or with more than twice as many entries as claims (plus ten), is refused
whole. A judge failure never becomes a pass.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.verify.errors import JudgeError
from skilldeck.tools.verify.evidence import Sentence

__all__ = ["Judgement", "Packet", "LLMJudge", "Completer", "build_packets", "build_prompt", "parse_verdicts",
           "http_completer", "SYSTEM_PROMPT", "VERDICTS", "repair_prompt"]

Completer = Callable[[str, str], Awaitable[str]]
VERDICTS = ("supported", "not_supported", "contradicted", "unsure")
_ALIASES = {"unsupported": "not_supported", "not supported": "not_supported", "refuted": "contradicted"}
MAX_SPANS = 3
MAX_QUOTE = 400
# A reply for 40 claims is a few KB. A longer one is refused unread: decoded, a hostile client's 15 MB reply
# of a million entries took 500 MB and 7 s of the GIL, three times per call.
MAX_REPLY_CHARS = 200_000

SYSTEM_PROMPT = (
    "You check claims against evidence. For each claim decide, using ONLY the evidence spans given with it: "
    "'supported' (the spans state or directly entail every part of the claim: its names, numbers, dates and how "
    "the named things relate), 'contradicted' (a span states something incompatible), 'not_supported' (the spans "
    "do not say it, or say only part of it), or 'unsure' (you cannot tell). A 'supported' verdict must list the "
    "span numbers it rests on. Reply with ONLY a JSON object, no prose, no code fence: "
    '{"verdicts": [{"claim": <claim number>, "verdict": "supported|not_supported|contradicted|unsure", '
    '"evidence": [<span numbers>], "reason": "<a few words>"}]} with exactly one entry per claim.')


@dataclass
class Packet:
    """One claim for a judge: its number in the answer, its text, the evidence spans and the check findings."""

    claim: int
    text: str
    spans: list[Sentence]
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        evidence = []
        for n, s in enumerate(self.spans, 1):
            where = f"{s.item.id}:{s.line}" if s.line is not None else f"{s.item.id}#{s.position}"
            quote = s.text if len(s.text) <= MAX_QUOTE else s.text[:MAX_QUOTE - 1] + "…"
            evidence.append({"n": n, "cite": where, "quote": quote})
        return {"claim": self.claim, "text": self.text, "evidence": evidence,
                **({"checks": self.checks} if self.checks else {})}


@dataclass(frozen=True)
class Judgement:
    """A judge's decision on one claim; `evidence` holds the 1-based span numbers a "supported" rests on."""

    verdict: str
    evidence: tuple[int, ...] = ()
    reason: str = ""
    confidence: float | None = None


def build_packets(results: list[Any]) -> list[Packet]:
    """Packets for claim results (see `verifier.judge_targets`): cited window first, then nearby sentences."""
    packets = []
    for r in results:
        # Every cited sentence (a claim gathering list items cites up to six: the judge must see each),
        # then nearby ones up to MAX_SPANS.
        limit = max(MAX_SPANS, len(r.citations))
        spans: list[Sentence] = []
        for s in [*r.citations, *r.nearby]:
            if s not in spans and len(spans) < limit:
                spans.append(s)
        checks = [s.detail for s in r.signals]
        if r.missing:
            checks.append("not found in the evidence: " + ", ".join(r.missing[:6]))
        packets.append(Packet(r.claim.index, r.claim.text, spans, checks))
    return packets


def build_prompt(packets: list[Packet]) -> str:
    """The user message: the packets as compact JSON, one per line."""
    return "Claims to judge:\n" + "\n".join(json.dumps(p.to_dict(), ensure_ascii=False) for p in packets)


def _extract_json(reply: str) -> Any:
    text = reply.strip()
    # Sliced, not matched: the pattern ^```(?:json)?\s*(.*?)\s*```$ backtracked cubically on a reply of
    # a fence and blanks, and 6,000 characters from a client's model held the server (and its GIL) for minutes.
    if len(text) >= 6 and text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        text = text[4:] if text.startswith("json") else text
        text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from exc
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply to read") from exc


def _shown(value: Any) -> str:
    """A judge's value as a problem names it, cut short: the problems go back to the judge and into the
    report, and a 3 MB claim number pushed the report past the answer limit, cut and unreadable."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def parse_entry(entry: Any, packets: dict[int, Packet]) -> tuple[int, Judgement]:
    """One verdict entry checked against its packet; raises ValueError naming the problem."""
    if not isinstance(entry, dict):
        raise ValueError("each verdict must be an object")
    idx, verdict = entry.get("claim"), entry.get("verdict")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx not in packets:
        raise ValueError(f"claim number {_shown(idx)} is not one of the claims asked about "
                         f"({', '.join(map(str, packets))})")
    verdict = _ALIASES.get(verdict, verdict) if isinstance(verdict, str) else verdict
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {_shown(entry.get('verdict'))} for claim {idx} is not one of {', '.join(VERDICTS)}")
    spans = entry.get("evidence", [])
    count = len(packets[idx].spans)
    if not isinstance(spans, list) or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count
                                              for n in spans):
        raise ValueError(f"evidence for claim {idx} must be a list of span numbers from 1 to {count}")
    if verdict == "supported" and not spans:
        raise ValueError(f"claim {idx} is 'supported' but names no evidence span it rests on")
    conf = entry.get("confidence")
    if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 <= conf <= 1):
        raise ValueError(f"confidence {_shown(conf)} for claim {idx} is not a number from 0 to 1")
    reason = entry.get("reason", "")
    return idx, Judgement(verdict, tuple(dict.fromkeys(spans)), str(reason)[:300] if reason else "",
                          None if conf is None else float(conf))


def parse_verdicts(reply: str | Any, packets: list[Packet]) -> tuple[dict[int, Judgement], list[str]]:
    """Parse a reply (text, or the already decoded object) under the contract.

    Returns the valid judgements by claim number and the problems found (empty when the reply
    keeps the contract). A claim with no valid entry is simply absent: it stays unsure.
    """
    by_claim = {p.claim: p for p in packets}
    if isinstance(reply, str) and len(reply) > MAX_REPLY_CHARS:
        return {}, [f"the reply is {len(reply):,} characters, over {MAX_REPLY_CHARS:,}: give one short entry per claim"]
    try:
        data = _extract_json(reply) if isinstance(reply, str) else reply
    except ValueError as exc:
        return {}, [str(exc)]
    if isinstance(data, list):
        data = {"verdicts": data}
    if not isinstance(data, dict) or not isinstance(data.get("verdicts"), list):
        return {}, ['the top level must be an object with a "verdicts" list']
    if len(data["verdicts"]) > 2 * len(packets) + 10:
        return {}, [f"the reply has {len(data['verdicts']):,} verdicts for {len(packets)} claim(s): give one per claim"]
    found: dict[int, Judgement] = {}
    doubled: set[int] = set()
    problems: list[str] = []
    for entry in data["verdicts"]:
        named = entry.get("claim") if isinstance(entry, dict) else None
        try:
            idx, judgement = parse_entry(entry, by_claim)
        except ValueError as exc:
            problems.append(str(exc))
            if isinstance(named, int) and not isinstance(named, bool) and named in by_claim:
                # A second say on a claim counts even when it breaks the contract ("contradicted" with a
                # bad span number after a clean "supported"): the claim gets neither.
                found.pop(named, None)
                doubled.add(named)
            continue
        if idx in found or idx in doubled:
            # Neither verdict stands: keeping the first let "supported", then "contradicted", pass a claim.
            if idx in found:
                problems.append(f"claim {idx} has more than one verdict")
            found.pop(idx, None)
            doubled.add(idx)
            continue
        found[idx] = judgement
    missing = [str(i) for i in by_claim if i not in found]
    if missing:
        problems.append(f"no valid verdict for claim(s) {', '.join(missing)}")
    return found, problems


def repair_prompt(prompt: str, reply: str, problems: list[str]) -> str:
    """The second request after a reply that broke the contract: the problems, then the same claims."""
    return (f"{prompt}\n\nYour previous reply broke the JSON contract: {'; '.join(problems[:5])}. Previous reply:\n"
            f"{reply[:2000]}\n\nReply again with ONLY the JSON object.")


class LLMJudge:
    """Judges packets with an LLM: `judgements, notes = await LLMJudge(complete, "llm").judge(packets)`."""

    def __init__(self, complete: Completer, name: str = "llm", batch_size: int = 12) -> None:
        self.complete = complete
        self.name = name
        self.batch_size = batch_size

    async def judge(self, packets: list[Packet]) -> tuple[dict[int, Judgement], list[str]]:
        out: dict[int, Judgement] = {}
        notes: list[str] = []
        for start in range(0, len(packets), self.batch_size):
            found, problems = await self._judge_batch(packets[start:start + self.batch_size])
            out |= found
            if problems:
                notes.append(f"the {self.name} judge broke the JSON contract twice ({'; '.join(problems[:3])}); "
                             "the claims it left undecided stay unsure")
        return out, notes

    async def _judge_batch(self, packets: list[Packet]) -> tuple[dict[int, Judgement], list[str]]:
        prompt = build_prompt(packets)
        reply = await self.complete(SYSTEM_PROMPT, prompt)
        found, problems = parse_verdicts(reply, packets)
        if not problems:
            return found, []
        second, problems = parse_verdicts(await self.complete(SYSTEM_PROMPT, repair_prompt(prompt, reply, problems)),
                                          packets)
        return found | second, problems


def http_completer(client: Any, url: str, model: str, api_key: str | None = None,
                   max_tokens: int = 1024) -> Completer:
    """A completer for an OpenAI-compatible `/chat/completions` endpoint over an injected httpx2 client."""

    async def complete(system: str, prompt: str) -> str:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        body = {"model": model, "temperature": 0, "max_tokens": max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        try:
            response = await client.post(url, json=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - any transport failure is the judge failing
            raise JudgeError(f"the judge endpoint {url} could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise JudgeError(f"the judge endpoint {url} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise JudgeError(f"the judge endpoint {url} returned no chat completion: {response.text[:300]}") from exc

    return complete
