"""The mock provider's batch APIs: OpenAI Batch (files + ``/batches``) and Anthropic Message
Batches (``/messages/batches``), answered by the same mock model with the same faults.

A batch ends ``MockConfig.batch_delay_s`` after it is created (cancel ends it at once, with the
requests answered so far); batch requests skip the rate limits, as the real batch pools do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.tokens import count_tokens

__all__ = ["MockBatches"]

Route = tuple[int, dict[str, str], Any]


@dataclass
class _Batch:
    id: str
    api: str
    requests: list[tuple[str, dict[str, Any]]]
    created: float
    status: str = "in_progress"
    lines: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None


def _multipart_file(body: bytes, content_type: str) -> bytes | None:
    """The content of the part named "file" in a multipart/form-data body."""
    if "boundary=" not in content_type:
        return None
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content[:-2] if content.endswith(b"\r\n") else content
    return None


class MockBatches:
    """Batch endpoints of one `MockProvider`; `stats` counts batches and lines by outcome."""

    def __init__(self, mock: Any) -> None:
        self.mock = mock
        self.files: dict[str, str] = {}
        self.batches: dict[str, _Batch] = {}
        self.stats: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def route(self, method: str, path: str, body: bytes, content_type: str) -> Route | None:
        """The answer to a batch-API request, or None when `path` is no batch endpoint."""
        parts = path.split("?")[0].rstrip("/").split("/")
        tail = parts[parts.index("v1") + 1:] if "v1" in parts else parts[1:]
        if tail[:2] == ["messages", "batches"]:
            return self._anthropic(method, tail[2:], body)
        if tail[:1] == ["files"]:
            return self._files(method, tail[1:], body, content_type)
        if tail[:1] == ["batches"]:
            return self._openai(method, tail[1:], body)
        return None

    # -- OpenAI -------------------------------------------------------------------------
    def _files(self, method: str, rest: list[str], body: bytes, content_type: str) -> Route:
        if method == "POST" and not rest:
            content = _multipart_file(body, content_type)
            if content is None:
                return 400, {}, {"error": {"message": "expected multipart/form-data with a 'file' part"}}
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content.decode("utf-8")
            return 200, {}, {"id": file_id, "object": "file", "purpose": "batch", "bytes": len(content)}
        if method == "GET" and len(rest) == 2 and rest[1] == "content" and rest[0] in self.files:
            return 200, {}, self.files[rest[0]]
        return 404, {}, {"error": {"message": f"no file route {method} {'/'.join(rest)}"}}

    def _openai(self, method: str, rest: list[str], body: bytes) -> Route:
        if method == "POST" and not rest:
            data = json.loads(body)
            text = self.files.get(data.get("input_file_id", ""))
            if text is None:
                return 400, {}, {"error": {"message": f"no input file {data.get('input_file_id')!r}"}}
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            batch = self._create("openai", [(line["custom_id"], line["body"]) for line in lines])
            return 200, {}, self._openai_view(batch)
        batch = self.batches.get(rest[0]) if rest else None
        if batch is None:
            return 404, {}, {"error": {"message": f"no batch {rest[0] if rest else ''!r}"}}
        if method == "POST" and rest[1:] == ["cancel"]:
            self._end(batch, "cancelled")
        return 200, {}, self._openai_view(batch)

    def _openai_view(self, batch: _Batch) -> dict[str, Any]:
        failed = sum(1 for line in batch.lines if line.get("error"))
        return {"id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "status": batch.status,
                "output_file_id": batch.output_file, "error_file_id": None, "completion_window": "24h",
                "request_counts": {"total": len(batch.requests), "completed": len(batch.lines) - failed,
                                   "failed": failed}}

    # -- Anthropic ----------------------------------------------------------------------
    def _anthropic(self, method: str, rest: list[str], body: bytes) -> Route:
        if method == "POST" and not rest:
            data = json.loads(body)
            batch = self._create("anthropic", [(r["custom_id"], r["params"]) for r in data.get("requests", [])])
            return 200, {}, self._anthropic_view(batch)
        batch = self.batches.get(rest[0]) if rest else None
        if batch is None:
            return 404, {}, {"error": {"type": "not_found_error", "message": "no such batch"}}
        if method == "POST" and rest[1:] == ["cancel"]:
            self._end(batch, "cancelled")
        if method == "GET" and rest[1:] == ["results"]:
            if batch.status == "in_progress":
                return 400, {}, {"error": {"message": "the batch is still processing"}}
            return 200, {}, "".join(json.dumps(line) + "\n" for line in batch.lines)
        return 200, {}, self._anthropic_view(batch)

    def _anthropic_view(self, batch: _Batch) -> dict[str, Any]:
        counts = Counter(line["result"]["type"] for line in batch.lines)
        ended = batch.status != "in_progress"
        return {"id": batch.id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": {"processing": 0 if ended else len(batch.requests), "succeeded":
                                   counts["succeeded"], "errored": counts["errored"], "canceled": counts["canceled"],
                                   "expired": 0},
                "results_url": f"{self.mock.base_url}/messages/batches/{batch.id}/results" if ended else None}

    # -- processing ---------------------------------------------------------------------
    def _create(self, api: str, requests: list[tuple[str, dict[str, Any]]]) -> _Batch:
        prefix = "msgbatch_" if api == "anthropic" else "batch_"
        batch = _Batch(f"{prefix}{len(self.batches) + 1}", api, requests, time.time())
        self.batches[batch.id] = batch
        self.stats["batches"] += 1
        task = asyncio.get_running_loop().create_task(self._finish_later(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    async def _finish_later(self, batch: _Batch) -> None:
        await asyncio.sleep(self.mock.config.batch_delay_s)
        self._end(batch, "completed")

    def _end(self, batch: _Batch, how: str) -> None:
        if batch.status != "in_progress":
            return
        cut = len(batch.requests) // 2 if how == "cancelled" else len(batch.requests)
        for n, (cid, body) in enumerate(batch.requests):
            batch.lines.append(self._line(batch.api, cid, body) if n < cut else self._cancelled(batch.api, cid))
        batch.status = how
        if batch.api == "openai":
            batch.output_file = f"file-{len(self.files) + 1}"
            self.files[batch.output_file] = "".join(json.dumps(line) + "\n" for line in batch.lines)

    def _line(self, api: str, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        from skilldeck.tools.batch.mock_provider import _schema_tokens, _texts

        system, user = _texts(api, body)
        input_tokens = count_tokens(system) + count_tokens(user) + _schema_tokens(api, body) + 8
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 4096)
        fault = self.mock._draw_fault()
        status, payload, _ = self.mock.generate(api, body, input_tokens, max_tokens, fault)
        self.stats["lines_ok" if status == 200 else "lines_error"] += 1
        if api == "anthropic":
            if status == 200:
                return {"custom_id": cid, "result": {"type": "succeeded", "message": payload}}
            return {"custom_id": cid, "result": {"type": "errored", "error": {"type": "api_error",
                                                                              "message": "Internal server error"}}}
        if status == 200:
            return {"id": f"req_{cid}", "custom_id": cid, "response": {"status_code": 200, "body": payload},
                    "error": None}
        return {"id": f"req_{cid}", "custom_id": cid, "response": {"status_code": 500, "body": {
            "error": {"message": "Internal server error"}}}, "error": None}

    @staticmethod
    def _cancelled(api: str, cid: str) -> dict[str, Any]:
        if api == "anthropic":
            return {"custom_id": cid, "result": {"type": "canceled"}}
        return {"id": f"req_{cid}", "custom_id": cid, "response": None,
                "error": {"code": "batch_cancelled", "message": "Batch was cancelled"}}
