import json

import pytest

from skilldeck.tools.batch.prices import PRICE_TABLE, cost_of, price_for


def test_cost_uses_input_cached_and_output_prices():
    out = cost_of("gpt-4o-mini", 1_000_000, 1_000_000, cached_input_tokens=500_000)
    # 0.5M at 0.15 + 0.5M cached at 0.075 + 1M out at 0.60
    assert out["cost_usd"] == pytest.approx(0.075 + 0.0375 + 0.60)
    assert out["price_table_date"] == PRICE_TABLE["date"] and PRICE_TABLE["sources"]


def test_batch_api_discount_halves_the_cost():
    full = cost_of("claude-haiku-4-5", 2_000_000, 100_000)["cost_usd"]
    assert cost_of("claude-haiku-4-5", 2_000_000, 100_000, batch_api=True)["cost_usd"] == pytest.approx(full / 2)


def test_dated_model_names_match_their_family_and_unknown_models_say_so():
    assert price_for("gpt-4o-mini-2024-07-18")[0] == price_for("gpt-4o-mini")[0]
    assert price_for("gpt-4o-2024-08-06")[0].input == 2.5
    out = cost_of("my-local-model", 10, 10)
    assert out["cost_usd"] is None and "known:" in out["note"]


def test_overrides_win_over_the_table_from_arguments_and_from_the_home_file(skilldeck_home):
    assert cost_of("gpt-4o", 1_000_000, 0, overrides={"gpt-4o": {"input": 1, "output": 2}})["cost_usd"] == 1.0
    (skilldeck_home / "batch").mkdir(parents=True, exist_ok=True)
    (skilldeck_home / "batch" / "prices.json").write_text(json.dumps({"local": {"input": 0.5, "output": 1}}))
    out = cost_of("local", 2_000_000, 1_000_000)
    assert out["cost_usd"] == 2.0 and out["price_source"] == "override"


@pytest.mark.parametrize("field, value", [("rpm", float("inf")), ("itpm", float("nan")), ("timeout_s", float("inf")),
                                          ("prices", {"m": {"input": float("nan")}}),
                                          ("prices", {"m": {"output": -1.0}})])
def test_limits_and_prices_must_be_finite_and_prices_not_negative(field, value):
    from pydantic import ValidationError

    from skilldeck.tools.batch.spec import RunSpec

    with pytest.raises(ValidationError, match=field):
        RunSpec(instructions="Summarise.", provider="openai", model="m", **{field: value})
