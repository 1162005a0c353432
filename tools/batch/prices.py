"""Prices per million tokens, with the table's date and sources, user overrides and the
batch-API discount. Every run reports its tokens and what they cost.

Prices change; the table is a dated snapshot. Override it with ``prices`` in a run's spec or
with a JSON file at ``$SKILLDECK_HOME/batch/prices.json`` (``{"model": {"input": 1.0,
"cached_input": 0.1, "output": 5.0}}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from skilldeck.tools.batch.errors import BatchError
from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.home import data_path

__all__ = ["Price", "PRICES", "PRICE_TABLE", "price_for", "check_price", "cost_of", "BATCH_DISCOUNT", "MAX_TOKENS"]

# Checked against the providers' public pricing pages as summarised on 2026-01-26.
PRICE_TABLE = {
    "date": "2026-01-26",
    "currency": "USD per 1M tokens",
    "sources": ["https://openai.com/api/pricing/", "https://platform.openai.com/docs/pricing",
                "https://docs.anthropic.com/en/docs/about-claude/pricing"],
}
# OpenAI's and Anthropic's Batch APIs bill half the synchronous price.
BATCH_DISCOUNT = 0.5
# The most tokens a count may say (a quadrillion, far beyond any run): 10**400 overflowed the float price.
MAX_TOKENS = 10**15


@dataclass(frozen=True)
class Price:
    """USD per million tokens. `cached_input` None means the provider lists no cache-read price."""

    input: float
    output: float
    cached_input: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"input": self.input, "cached_input": self.cached_input, "output": self.output}


PRICES: dict[str, Price] = {
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.00, 8.00, 0.50),
    "o1": Price(15.00, 60.00, 7.50),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
}


def _user_prices() -> dict[str, Any]:
    path = data_path("batch", "prices.json")
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BatchError(f"cannot read the price overrides in {path}: {exc}. Fix or remove the file.") from exc
    return data if isinstance(data, dict) else {}


def price_for(model: str, overrides: dict[str, Any] | None = None) -> tuple[Price | None, str]:
    """The price for `model` and where it came from ('override', 'table', or 'unknown').

    A dated model name (``claude-haiku-4-5-20251001``, ``gpt-4o-mini-2024-07-18``) matches
    its family in the table.
    """
    for source, table in (("override", overrides or {}), ("override", _user_prices())):
        if model in table:
            p = table[model]
            check_price(model, p)
            return Price(float(p["input"]), float(p["output"]),
                         None if p.get("cached_input") is None else float(p["cached_input"])), source
    family = max((name for name in PRICES if model == name or model.startswith(name + "-")), key=len, default=None)
    if family is not None:
        return PRICES[family], "table"
    return None, "unknown"


def check_price(model: str, price: Any) -> None:
    """Raise InvalidInputError unless `price` is ``{input, output[, cached_input]}`` in USD per 1M tokens."""
    if not isinstance(price, dict) or "input" not in price or "output" not in price:
        got = sorted(price) if isinstance(price, dict) else type(price).__name__
        raise InvalidInputError(f"prices.{model} needs 'input' and 'output' (USD per 1M tokens, and optionally "
                                f"'cached_input'); got {got}")
    unknown = sorted(set(price) - {"input", "output", "cached_input"})
    if unknown:
        raise InvalidInputError(f"prices.{model}: unknown key(s) {', '.join(unknown)}; use input, cached_input, "
                                "output")


def cost_of(model: str, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0,
            batch_api: bool = False, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """USD for the tokens; `input_tokens` includes the cached ones. Unknown models get cost None.

    Raises InvalidInputError for a count that is not a number from 0 to MAX_TOKENS.
    """
    for name, count in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                        ("cached_input_tokens", cached_input_tokens)):
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count <= MAX_TOKENS:
            # Never the value itself: a 10**400 count is 401 digits (and past 4300, str() raises).
            raise InvalidInputError(f"{name} must be a count from 0 to {MAX_TOKENS:,} (10**15) tokens")
    price, source = price_for(model, overrides)
    out: dict[str, Any] = {"model": model, "input_tokens": input_tokens, "cached_input_tokens": cached_input_tokens,
                           "output_tokens": output_tokens, "price_source": source,
                           "price_table_date": PRICE_TABLE["date"], "batch_api_discount": batch_api}
    if price is None:
        out["cost_usd"] = None
        out["note"] = (f"no price for {model!r}; known: {', '.join(PRICES)}. Pass prices "
                       "{model: {input, cached_input, output}} per million tokens.")
        return out
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    usd = ((input_tokens - cached_input_tokens) * price.input + cached_input_tokens * cached_rate
           + output_tokens * price.output) / 1_000_000
    out["price_per_million"] = price.to_dict()
    out["cost_usd"] = round(usd * (BATCH_DISCOUNT if batch_api else 1.0), 6)
    return out
