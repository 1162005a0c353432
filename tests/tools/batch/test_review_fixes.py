"""Regressions found in review: torn journal tails, limits lowered while waiting, key variables."""

import asyncio

from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.limits import Cost, LimitSnapshot, PlanError, RateLimiter, RateLimits

import pytest


def test_append_after_a_torn_line_keeps_every_new_record_on_disk(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"type": "result", "id": "a", "status": "ok"}\n{"type":"result","id":"b","sta')
    journal = Journal(path)
    journal.append([{"id": "c", "status": "ok"}])
    assert sorted(Journal.read(path).results) == ["a", "c"]


def test_a_request_that_headers_make_too_big_fails_instead_of_waiting_forever():
    async def scenario():
        limiter = RateLimiter(RateLimits(input_tokens_per_minute=1000, concurrency=2))
        await limiter.acquire(Cost(900, 0))
        waiting = asyncio.create_task(limiter.acquire(Cost(800, 0)))
        await asyncio.sleep(0.05)
        limiter.sync(LimitSnapshot(limit={"input_tokens": 500}))
        with pytest.raises(PlanError):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())


def test_only_api_key_variables_can_be_sent_to_a_provider():
    from pydantic import ValidationError

    from skilldeck.tools.batch.spec import RunSpec

    with pytest.raises(ValidationError, match="API-key variable"):
        RunSpec(api_key_env="GITHUB_TOKEN", base_url="https://example.invalid")
    assert RunSpec(api_key_env="MY_PROVIDER_API_KEY").api_key_env == "MY_PROVIDER_API_KEY"

