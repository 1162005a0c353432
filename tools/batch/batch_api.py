"""The providers' own batch APIs: the same packing, contract, validation, journal and resume as
a live run, submitted as one asynchronous job per round at the batch price.

    OpenAI Batch        JSONL upload (POST /files, purpose=batch), POST /batches, poll
                        GET /batches/{id}, download GET /files/{output_file_id}/content
    Anthropic Message   POST /messages/batches, poll GET /messages/batches/{id}, download
    Batches             GET /messages/batches/{id}/results (never the answer's results_url:
                        the API key goes only to the configured base URL)

A round submits every unanswered task (packed like a live run, a fresh echo code per task);
when the provider's batch ends, each answer is validated, accepted items are journalled, and
only missing or invalid tasks go into the next round. Each submission is journalled before it
is polled, so a resumed job polls the batch it already paid for instead of submitting again.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx2

from skilldeck.tools.batch.headers import LimitSnapshot
from skilldeck.tools.batch.plan import PlanOptions, make_plan
from skilldeck.tools.batch.prompt import BatchPrompt, build_prompt
from skilldeck.tools.batch.providers import Completion, Provider, ProviderFault, read_bounded
from skilldeck.tools.batch.runner import BatchRunner, RunOutcome
from skilldeck.tools.batch.tasks import Task

__all__ = ["BatchAPI", "BatchAPIRunner", "RemoteBatch", "batch_api_for"]

CALL_TIMEOUT_S = 600.0  # one batch-API request, body included
MAX_FILE_BYTES = 1 << 30  # the largest body (a results file) read from the batch API
_OPENAI_DONE = ("completed", "failed", "expired", "cancelled")
# A provider ends a batch within its 24 h completion window; one still open an hour past that is given up.
WAIT_LIMIT_S = 25 * 3600.0
MAX_POLL_BACKOFF_S = 600.0  # the longest wait between polls while polling fails


@dataclass
class RemoteBatch:
    """A provider-side batch as a poll reports it."""

    id: str
    status: str
    done: bool
    info: dict[str, Any]


class BatchAPI:
    """One provider's batch endpoints, over the live provider's client, URL and key."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.base = provider.base_url

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """One request, bounded like `Provider.complete`: CALL_TIMEOUT_S for the whole exchange and at
        most MAX_FILE_BYTES of body (a results file can be large, an endless body must not be)."""
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                streamed, body = await read_bounded(self.provider.client, method, f"{self.base}{path}", MAX_FILE_BYTES,
                                                    headers=self.provider.headers(), timeout=120.0, **kwargs)
        except TimeoutError as exc:
            raise ProviderFault("transient", f"batch API {method} {path}: no full answer in {CALL_TIMEOUT_S:g} s") from exc
        except httpx2.TransportError as exc:
            raise ProviderFault("transient", f"batch API {method} {path}: {type(exc).__name__}") from exc
        if body is None:
            raise ProviderFault("transient", f"batch API {method} {path}: the body is larger than {MAX_FILE_BYTES:,} bytes")
        # The body is decoded already: a rebuilt response must not decode it again.
        headers = [(k, v) for k, v in streamed.headers.items() if k.lower() not in ("content-encoding", "content-length")]
        response = httpx2.Response(streamed.status_code, headers=headers, content=body,
                                   request=streamed.request)
        if response.status_code >= 400:
            raise self.provider._fault(response.status_code, response.text, LimitSnapshot())
        return response

    async def submit(self, requests: list[tuple[str, dict[str, Any]]]) -> str:
        raise NotImplementedError

    async def poll(self, batch_id: str) -> RemoteBatch:
        raise NotImplementedError

    async def results(self, remote: RemoteBatch) -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        """custom_id -> (response body, error) for every request the batch finished."""
        raise NotImplementedError

    async def cancel(self, batch_id: str) -> None:
        raise NotImplementedError


class OpenAIBatch(BatchAPI):
    async def submit(self, requests: list[tuple[str, dict[str, Any]]]) -> str:
        lines = "".join(json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body},
                                   ensure_ascii=False) + "\n" for cid, body in requests)
        upload = await self._call("POST", "/files", data={"purpose": "batch"},
                                  files={"file": ("batch.jsonl", lines.encode(), "application/jsonl")})
        created = await self._call("POST", "/batches", json={"input_file_id": upload.json()["id"],
                                                             "endpoint": "/v1/chat/completions",
                                                             "completion_window": "24h"})
        return str(created.json()["id"])

    async def poll(self, batch_id: str) -> RemoteBatch:
        info = (await self._call("GET", f"/batches/{batch_id}")).json()
        status = str(info.get("status"))
        return RemoteBatch(batch_id, status, status in _OPENAI_DONE, info)

    async def results(self, remote: RemoteBatch) -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        out: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = remote.info.get(key)
            if not file_id:
                continue
            text = (await self._call("GET", f"/files/{file_id}/content")).text
            for line in map(self.provider.redact_data, _jsonl(text)):
                response, error = line.get("response") or {}, line.get("error")
                if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
                    out[str(line.get("custom_id"))] = (response["body"], None)
                else:
                    why = error or (response.get("body") or {}).get("error") or f"status {response.get('status_code')}"
                    out[str(line.get("custom_id"))] = (None, str(why)[:200])
        return out

    async def cancel(self, batch_id: str) -> None:
        await self._call("POST", f"/batches/{batch_id}/cancel")


class AnthropicBatch(BatchAPI):
    async def submit(self, requests: list[tuple[str, dict[str, Any]]]) -> str:
        created = await self._call("POST", "/messages/batches", json={
            "requests": [{"custom_id": cid, "params": body} for cid, body in requests]})
        return str(created.json()["id"])

    async def poll(self, batch_id: str) -> RemoteBatch:
        info = (await self._call("GET", f"/messages/batches/{batch_id}")).json()
        status = str(info.get("processing_status"))
        return RemoteBatch(batch_id, status, status == "ended", info)

    async def results(self, remote: RemoteBatch) -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        text = (await self._call("GET", f"/messages/batches/{remote.id}/results")).text
        out: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        for line in map(self.provider.redact_data, _jsonl(text)):
            result = line.get("result") or {}
            if result.get("type") == "succeeded" and isinstance(result.get("message"), dict):
                out[str(line.get("custom_id"))] = (result["message"], None)
            else:
                out[str(line.get("custom_id"))] = (None, f"{result.get('type')}: {result.get('error')}"[:200])
        return out

    async def cancel(self, batch_id: str) -> None:
        await self._call("POST", f"/messages/batches/{batch_id}/cancel")


def batch_api_for(provider: Provider) -> BatchAPI:
    """The batch endpoints of `provider`'s API."""
    return (AnthropicBatch if provider.api == "anthropic" else OpenAIBatch)(provider)


def _jsonl(text: str) -> list[dict[str, Any]]:
    out = []
    for line in io.StringIO(text):  # "\n" only: str.splitlines also splits at U+2028 inside a JSON string
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # a torn or hostile line: that request's result stays missing
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


class BatchAPIRunner(BatchRunner):
    """Runs tasks through the provider's batch API in rounds. Usage::

        runner = BatchAPIRunner(provider, PromptSpec(...), PlanOptions(), RateLimiter(limits), journal,
                                poll_s=30)
        outcome = await runner.run(tasks)          # results are in the journal
    """

    def __init__(self, *args: Any, poll_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_s = poll_s
        self.wait_limit_s = WAIT_LIMIT_S
        self.api = batch_api_for(self.provider)
        self._shrink = False  # an answer was cut at max_tokens: the next round packs smaller batches

    async def run(self, tasks: list[Task]) -> RunOutcome:  # type: ignore[override]
        start = time.monotonic()
        self.journal.mark_session()
        self._total = len(tasks)
        by_id = {t.id: t for t in tasks}
        self._open = sum(not self.journal.done(t.id) for t in tasks)
        self._report()
        planned: dict[str, Any] = {}
        rounds = 0
        while self._open > 0 and self._fatal is None:
            submission = self._pending() or await self._submit(
                [t for t in tasks if not self.journal.done(t.id)], planned, rounds)
            rounds += 1
            remote = await self._wait(submission["remote_id"], submission.get("t"))
            if remote is None:  # cancelled while waiting; the remote batch was cancelled too
                return RunOutcome(False, cancelled=True, elapsed_s=time.monotonic() - start, planned=planned)
            await self._collect(submission, remote, by_id)
            if rounds > self.policy.max_attempts + 2:  # every round re-queues only what stays unanswered
                rest = [by_id[i] for i in by_id if not self.journal.done(i)]
                self._fail(rest, f"still unanswered after {rounds} batch-API rounds", None)
        return RunOutcome(self._open <= 0, fatal=self._fatal, elapsed_s=time.monotonic() - start, planned=planned)

    def _pending(self) -> dict[str, Any] | None:
        collected = {r.get("remote_id") for r in self.journal.state.extra if r.get("type") == "collected"}
        pending = [r for r in self.journal.state.extra if r.get("type") == "submission"
                   and r.get("remote_id") not in collected]
        return pending[-1] if pending else None

    async def _submit(self, todo: list[Task], planned: dict[str, Any], round_no: int) -> dict[str, Any]:
        options = self.options
        if self._shrink:
            options = PlanOptions(max(1, options.batch_size // 2), options.max_input_tokens, options.max_output_tokens,
                                  options.context_window)
            self.options, self._shrink = options, False
        plan = make_plan(todo, self.spec, options, None)
        planned.update(plan.summary())
        requests: list[tuple[str, dict[str, Any]]] = []
        index: dict[str, Any] = {}
        for i, batch in enumerate(plan.batches):
            self._sends += 1
            prompt = build_prompt(self.spec, batch.tasks, self._header, salt=f"{self._salt}:{self._sends}")
            cid = f"r{round_no}-{self._sends}-{i}"
            requests.append((cid, self.provider.body(prompt)))
            index[cid] = {"ids": list(prompt.task_ids), "echoes": prompt.echoes, "input_tokens": prompt.input_tokens,
                          "max_tokens": prompt.max_tokens, "round": round_no}
        remote_id = await self.api.submit(requests)
        record = {"type": "submission", "remote_id": remote_id, "t": round(time.time(), 3), "requests": index}
        self.journal.write_record(record)
        return record

    async def _wait(self, remote_id: str, submitted_at: float | None = None) -> Any:
        """Poll until the batch ends; None if cancelled. Polls back off while they fail, and a batch
        still open WAIT_LIMIT_S after it was submitted (wall clock: a resumed job counts from then) fails."""
        deadline = (submitted_at or time.time()) + self.wait_limit_s
        faults = 0
        while True:
            try:
                remote = await self.api.poll(remote_id)
                faults = 0
            except ProviderFault as fault:
                if fault.kind == "fatal":
                    self._fatal = str(fault)
                    return RemoteBatch(remote_id, "fatal", True, {})
                remote, faults = None, faults + 1
            if remote is not None and remote.done:
                return remote
            if self._cancelled():
                try:
                    await self.api.cancel(remote_id)
                except ProviderFault:
                    pass  # the provider may have ended it meanwhile; a resume polls it again
                self.journal.write_record({"type": "cancel", "remote_id": remote_id, "t": round(time.time(), 3)})
                return None
            if time.time() >= deadline:
                status = remote.status if remote is not None else "unreachable"
                self._fatal = (f"batch {remote_id} is still {status} {self.wait_limit_s / 3600:g} h after it was "
                               "submitted, past the provider's 24 h completion window: it was cancelled; resume the "
                               "job to submit its tasks again")
                try:
                    await self.api.cancel(remote_id)  # its results would never be collected now
                except ProviderFault:
                    pass
                return RemoteBatch(remote_id, "fatal", True, {})
            # Doubling per failed poll in a row, so an outage is not polled at full rate.
            await asyncio.sleep(min(self.poll_s * 2 ** min(faults, 20), max(self.poll_s, MAX_POLL_BACKOFF_S)))

    async def _collect(self, submission: dict[str, Any], remote: RemoteBatch, by_id: dict[str, Task]) -> None:
        answers = await self.api.results(remote) if remote.status != "fatal" else {}
        for cid, entry in submission["requests"].items():
            ids = [i for i in entry["ids"] if i in by_id and not self.journal.done(i)]
            if not ids:
                continue
            prompt = BatchPrompt("", "", tuple(ids), {}, entry["input_tokens"], entry["max_tokens"],
                                 {i: entry["echoes"][i] for i in ids if i in entry["echoes"]})
            body, error = answers.get(cid, (None, f"no answer in the provider's batch ({remote.status})"))
            completion = None
            if body is not None:
                try:
                    completion = self.provider.parse(body, LimitSnapshot())
                except ProviderFault as fault:
                    error = str(fault)
            if completion is None:
                record = self._record(prompt, entry.get("round") == 0, "transient", 0.0, batch_api=remote.id,
                                      error=str(error)[:200])
                _, failed = self._charge([by_id[i] for i in ids], str(error))
                self._write(failed, record)
                continue
            self._accept(prompt, completion, by_id, remote.id, entry.get("round") == 0)
        self.journal.write_record({"type": "collected", "remote_id": remote.id, "status": remote.status,
                                   "t": round(time.time(), 3)})

    def _accept(self, prompt: BatchPrompt, completion: Completion, by_id: dict[str, Task], remote_id: str,
                first: bool) -> None:
        check, repairs, problem = self._check(completion, prompt)
        self._shrink = self._shrink or completion.truncated
        results = [{"id": tid, **item, "attempts": self._attempts.get(tid, 0) + 1}
                   for tid, item in check.accepted.items()]
        bad = {tid: check.invalid.get(tid, problem) for tid in prompt.task_ids if tid not in check.accepted}
        record = self._record(prompt, first, "ok", 0.0, completion, repairs=repairs, accepted=len(results),
                              requeued=len(bad), truncated=completion.truncated, foreign=check.foreign,
                              misattributed=check.misattributed, near_misses=dict(check.near_misses),
                              batch_api=remote_id)
        _, failed = self._charge([by_id[t] for t in bad], bad)
        self._write(results + failed, record)
