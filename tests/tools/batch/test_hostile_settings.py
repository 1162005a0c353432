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
