"""An LLM as judge of claims, behind a strict JSON contract with one repair pass.

The judge only needs a text-completion function `complete(system, prompt) -> str`, so the
same contract serves an HTTP provider (`http_completer`, OpenAI-compatible chat completions
over an injected `httpx2.AsyncClient`) and MCP sampling (the client's own model; the adapter
in `skilldeck.server.verify` supplies that function).

Contract: the model replies with only
    {"verdicts": [{"claim": 0, "verdict": "supported" | "unsupported" | "contradicted", "confidence": 0.9}]}
with one entry per claim number. Anything else gets one repair request naming the problem;
a second failure raises `JudgeError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from skilldeck.tools.verify.errors import JudgeError

__all__ = ["LLMJudge", "Completer", "parse_verdicts", "http_completer", "SYSTEM_PROMPT"]

Completer = Callable[[str, str], Awaitable[str]]
VERDICTS = ("supported", "unsupported", "contradicted")

SYSTEM_PROMPT = (
    "You check claims against evidence. For each numbered claim decide, using ONLY its evidence: "
    "'supported' (the evidence states or directly entails every part of the claim, including numbers, "
    "names and dates), 'contradicted' (the evidence states something incompatible), or 'unsupported' "
    "(anything else, including partly supported). Reply with ONLY a JSON object, no prose, no code fence: "
    '{"verdicts": [{"claim": <number>, "verdict": "supported|unsupported|contradicted", '
    '"confidence": <0 to 1>}]} with exactly one entry per claim.')


def build_prompt(pairs: list[tuple[str, str]]) -> str:
    """The user message: each claim with its evidence, numbered from 0."""
    parts = []
    for i, (evidence, claim) in enumerate(pairs):
        parts.append(f"Claim {i}: {claim}\nEvidence {i}: {evidence}")
    return "\n\n".join(parts)


def parse_verdicts(reply: str, count: int) -> list[tuple[str, float]]:
    """Parse a reply under the contract; raise ValueError naming the first problem."""
    text = reply.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("verdicts"), list):
        raise ValueError('the top level must be an object with a "verdicts" list')
    found: dict[int, tuple[str, float]] = {}
    for entry in data["verdicts"]:
        if not isinstance(entry, dict):
            raise ValueError("each verdict must be an object")
        idx, verdict, conf = entry.get("claim"), entry.get("verdict"), entry.get("confidence", 0.5)
        if not isinstance(idx, int) or not 0 <= idx < count:
            raise ValueError(f"claim number {idx!r} is not an integer from 0 to {count - 1}")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} for claim {idx} is not one of {', '.join(VERDICTS)}")
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 <= conf <= 1:
            raise ValueError(f"confidence {conf!r} for claim {idx} is not a number from 0 to 1")
        found[idx] = (verdict, float(conf))
    missing = [i for i in range(count) if i not in found]
    if missing:
        raise ValueError(f"no verdict for claim(s) {', '.join(map(str, missing))}")
    return [found[i] for i in range(count)]


class LLMJudge:
    """Judges (evidence, claim) pairs with an LLM: `await LLMJudge(complete, "llm").judge(pairs)`."""

    def __init__(self, complete: Completer, name: str = "llm", batch_size: int = 12) -> None:
        self.complete = complete
        self.name = name
        self.batch_size = batch_size

    async def judge(self, pairs: list[tuple[str, str]]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for start in range(0, len(pairs), self.batch_size):
            out += await self._judge_batch(pairs[start:start + self.batch_size])
        return out

    async def _judge_batch(self, pairs: list[tuple[str, str]]) -> list[tuple[str, float]]:
        prompt = build_prompt(pairs)
        reply = await self.complete(SYSTEM_PROMPT, prompt)
        try:
            return parse_verdicts(reply, len(pairs))
        except ValueError as first:
            repair = (f"{prompt}\n\nYour previous reply broke the JSON contract: {first}. Previous reply:\n"
                      f"{reply[:2000]}\n\nReply again with ONLY the JSON object.")
            reply = await self.complete(SYSTEM_PROMPT, repair)
            try:
                return parse_verdicts(reply, len(pairs))
            except ValueError as second:
                raise JudgeError(f"the {self.name} judge broke the JSON contract twice ({second}); "
                                 "use the lexical backend or another model.") from second


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
