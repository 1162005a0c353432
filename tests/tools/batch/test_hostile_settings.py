"""Batch settings a model can steer: each bad one is refused naming the field, never an internal error."""

import pytest
from pydantic import ValidationError

from skilldeck.tools.batch.headers import mapping_for
from skilldeck.tools.batch.prices import cost_of
from skilldeck.tools.batch.spec import RunSpec
from skilldeck.tools.errors import InvalidInputError


@pytest.mark.parametrize("schema, named", [
    ({"properties": "abc"}, "output_schema.properties must map"),
    ({"properties": {"a": "string"}}, "output_schema.properties.a must be a JSON schema object"),
    ({"type": "array", "items": {"properties": 5}}, "output_schema.items.properties must map"),
])
def test_a_malformed_output_schema_is_refused_naming_its_part(schema, named):
    with pytest.raises(ValidationError) as raised:
        RunSpec(output_schema=schema)
    assert named in str(raised.value)


def test_a_well_formed_output_schema_is_kept():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    assert RunSpec(output_schema=schema).output_schema == schema


@pytest.mark.parametrize("field, value", [("backoff_base_s", 1e9), ("backoff_cap_s", 1e9), ("timeout_s", 1e9),
                                          ("latency_s", 1e-320)])
def test_times_that_would_keep_a_run_alive_for_good_are_refused(field, value):
    with pytest.raises(ValidationError) as raised:
        RunSpec(**{field: value})
    assert field in str(raised.value)


def test_a_price_without_input_or_output_is_refused_naming_the_model():
    with pytest.raises(ValidationError, match="prices.m needs 'input' and 'output'"):
        RunSpec(prices={"m": {"output": 1.0}})
    with pytest.raises(InvalidInputError, match="prices.zz needs 'input' and 'output'"):
        cost_of("zz", 10, 10, overrides={"zz": {"input": 1.0}})
    with pytest.raises(ValidationError):
        RunSpec(prices={"m": {"input": 1e308, "output": 1e308}})  # priced a run at Infinity


def test_a_header_style_that_is_not_a_name_is_refused():
    with pytest.raises(ValueError, match="headers.style"):
        mapping_for("openai", {"style": {"x": 1}})


@pytest.mark.parametrize("override, named", [
    ({"template": "{field:>400000000}", "names": {"a": "requests"}}, "headers.template"),  # 400 MB per header
    ({"template": "{0}"}, "headers.template"),
    ({"template": "{field!r}-{name}"}, "headers.template"),
    ({"template": "{field.__class__}"}, "headers.template"),
    ({"template": "{name[0]}"}, "headers.template"),
    ({"template": "x-{field"}, "headers.template"),
    ({"template": "x" * 500}, "headers.template"),
    ({"names": "abc"}, "headers.names"),
    ({"names": {"a": "everything"}}, "headers.names"),
    ({"names": {f"n{i}": "requests" for i in range(100)}}, "headers.names"),
    ({"tolerance": float("nan")}, "headers.tolerance"),
    ({"tolerance": -1}, "headers.tolerance"),
    ({"tolerance": "1000"}, "headers.tolerance"),
])
def test_a_header_override_that_is_not_a_plain_mapping_is_refused_naming_the_field(override, named):
    with pytest.raises(ValueError, match=named):
        mapping_for("openai", override)


def test_a_bad_header_template_fails_the_dry_run_not_every_task():
    from skilldeck.tools.batch.errors import ProviderConfigError
    from skilldeck.tools.batch.service import dry_run
    from skilldeck.tools.batch.tasks import Task

    spec = RunSpec(provider="vllm", model="m", headers={"template": "{0}"})
    with pytest.raises(ProviderConfigError, match="may only use {field}/{name} placeholders without format specs"):
        dry_run(spec, [Task("1", {"text": "hi"})])


def test_a_custom_header_template_still_reads_the_headers():
    from skilldeck.tools.batch.headers import parse_headers

    mapping = mapping_for("openai", {"template": "x-rl-{name}-{field}", "names": {"req": "requests"}, "tolerance": 5})
    snap = parse_headers({"x-rl-req-limit": "100", "x-rl-req-remaining": "7"}, mapping)
    assert snap.limit == {"requests": 100} and snap.remaining == {"requests": 7} and snap.tolerance == 5


@pytest.mark.parametrize("values", [{"poll_s": 1e-6}, {"provider": "openai", "poll_s": 0.5},
                                    {"provider": "vllm", "base_url": "https://gpu.example.com/v1", "poll_s": 0.2}])
def test_a_poll_interval_that_would_flood_the_provider_is_refused(values):
    with pytest.raises(ValidationError, match="poll_s") as raised:
        RunSpec(mode="batch_api", **values)
    assert [e["loc"] for e in raised.value.errors()] == [("poll_s",)]  # the field is named, not the whole spec


def test_a_server_on_this_machine_may_be_polled_faster():
    assert RunSpec(provider="vllm", mode="batch_api", poll_s=0.1).poll_s == 0.1
    assert RunSpec(provider="openai-compatible", base_url="http://[::1]:9/v1", poll_s=0.1).poll_s == 0.1
    assert RunSpec(provider="openai", mode="batch_api", poll_s=1).poll_s == 1


@pytest.mark.parametrize("field", ["max_input_tokens", "max_output_tokens", "context_window"])
def test_token_budgets_past_any_model_are_refused(field):
    with pytest.raises(ValidationError, match=field):
        RunSpec(**{field: 10**400})


@pytest.mark.parametrize("counts", [(10**400, 1, 0), (1, 10**400, 0), (10, 1, 10**5000), (-1, 1, 0)])
def test_a_token_count_past_any_run_is_refused_not_an_overflow(counts):
    with pytest.raises(InvalidInputError, match="must be a count from 0 to"):
        cost_of("gpt-4o", *counts)


def test_estimate_cost_bounds_its_token_counts_in_the_schema():
    import typing

    from pydantic import TypeAdapter

    from skilldeck.server.batch import BatchTools

    hints = typing.get_type_hints(BatchTools.estimate_cost, include_extras=True)
    for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
        with pytest.raises(ValidationError, match="less than or equal"):
            TypeAdapter(hints[name]).validate_python(10**400)
