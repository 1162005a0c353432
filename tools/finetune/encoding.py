"""Turning records into training sequences: one chat template, completion-only labels, EOS kept.

Every example is rendered with the tokenizer's chat template (or, when it has none, one fixed
fallback template) in two parts: the prompt, rendered with the generation prompt, and the
completion, which is the rest of the full conversation. Labels are -100 on the prompt and the
completion's own ids after it, always ending with the EOS token, so the model learns to stop.

Special tokens come only from the template. When a message itself contains the text of one
(an answer that explains "</s>"), that message is encoded as plain text: otherwise the
tokenizer would turn it into a real EOS mid-answer, which teaches the model to stop there.

`check_loss_mask` decodes which tokens actually carry loss in real batches before training
starts; it is what catches the classic bug of padding with EOS and then masking every pad
(which also masks the real EOS and trains a model that never stops).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from skilldeck.tools.finetune.errors import DatasetError, LossMaskError
from skilldeck.tools.finetune.records import Record

__all__ = ["Encoded", "ChatFormatter", "encode_records", "check_loss_mask", "pad_batch", "pack_examples",
           "IGNORE_INDEX", "FALLBACK_TEMPLATE"]

IGNORE_INDEX = -100

# Used only when the tokenizer has no chat template; the same template then serves training,
# evaluation and the model card, so the tuned model is prompted the way it was trained.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}### System:\n{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}### User:\n{{ m['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}### Assistant:\n{% endif %}")

# Stands in for message i when rendering: private-use characters never occur in real text, and
# templates copy them through unchanged.
_MARK = "\ue000{}\ue001"
_MARK_RE = re.compile("\ue000(\\d+)\ue001")


@dataclass
class Encoded:
    """One tokenised example: ids, labels (-100 on the prompt) and where it came from."""

    input_ids: list[int]
    labels: list[int]
    where: str

    def __len__(self) -> int:
        return len(self.input_ids)


class ChatFormatter:
    """Renders prompts and completions with one template for the whole run."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        if tokenizer.eos_token_id is None:
            raise LossMaskError("The tokenizer has no EOS token, so the model could never learn to stop; "
                                "use a tokenizer that defines eos_token.")
        self.template_source = "tokenizer" if getattr(tokenizer, "chat_template", None) else "fallback"
        added = getattr(tokenizer, "added_tokens_decoder", {}).values()
        self._specials = sorted({*tokenizer.all_special_tokens,
                                 *(t.content for t in added if getattr(t, "special", False))} - {""})
        if self.template_source == "fallback":
            tokenizer.chat_template = FALLBACK_TEMPLATE

    def prompt_text(self, messages: Sequence[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def split(self, record: Record) -> tuple[str, str]:
        """(prompt text, completion text) of a record; the completion is what gets loss."""
        prompt = self.prompt_text(record.prompt)
        full = self.tokenizer.apply_chat_template(
            [*record.prompt, {"role": "assistant", "content": record.completion}], tokenize=False)
        if not full.startswith(prompt):
            raise DatasetError(f"{record.where()}: the chat template renders the prompt differently with and "
                               "without the answer, so the answer cannot be isolated for the loss.")
        return prompt, full[len(prompt):]

    def encode(self, record: Record) -> Encoded:
        messages = [*record.prompt, {"role": "assistant", "content": record.completion}]
        if any(s in m["content"] for m in messages for s in self._specials):
            p_ids, c_ids = self._encode_literal(record, messages)
        else:
            prompt, completion = self.split(record)
            p_ids, c_ids = self._ids(prompt), self._ids(completion)
        tok = self.tokenizer
        if tok.bos_token_id is not None and getattr(tok, "add_bos_token", False) and p_ids[:1] != [tok.bos_token_id]:
            p_ids = [tok.bos_token_id] + p_ids
        c_ids = self._end_at_eos(c_ids)
        return Encoded(p_ids + c_ids, [IGNORE_INDEX] * len(p_ids) + c_ids, record.where())

    def prompt_ids(self, record: Record) -> list[int]:
        """The ids a model sees before it answers `record`, encoded exactly as in training."""
        enc = self.encode(record)
        return enc.input_ids[:sum(1 for label in enc.labels if label == IGNORE_INDEX)]

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _end_at_eos(self, c_ids: list[int]) -> list[int]:
        # Templates end a turn in different ways (EOS then a newline, an end-of-turn token ...):
        # cut anything after the last EOS, and add one if the template put none. Message text
        # holds no EOS id here (see _plain_ids), so the last one is the template's.
        eos = self.tokenizer.eos_token_id
        if eos in c_ids:
            return c_ids[:len(c_ids) - c_ids[::-1].index(eos)]
        return c_ids + [eos]

    def _encode_literal(self, record: Record, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
        """Prompt and completion ids with template text tokenised normally and message text as plain text."""
        prompt, completion = self.split(record)
        marked = [{**m, "content": _MARK.format(i)} for i, m in enumerate(messages)]
        m_prompt = self.prompt_text(marked[:-1])
        m_full = self.tokenizer.apply_chat_template(marked, tokenize=False)
        m_completion = m_full[len(m_prompt):]
        # Templates may trim message text (Llama 3 does), so try the text as given, then stripped.
        for texts in ([m["content"] for m in messages], [m["content"].strip() for m in messages]):
            if (m_full.startswith(m_prompt) and _fill(m_prompt, texts) == prompt
                    and _fill(m_completion, texts) == completion):
                return self._marked_ids(m_prompt, texts, record), self._marked_ids(m_completion, texts, record)
        literal = next(s for m in messages for s in self._specials if s in m["content"])
        raise DatasetError(f"{record.where()}: a message contains the special token text {literal!r} and the chat "
                           "template rewrites message text, so the text cannot be kept apart from the template's "
                           "own tokens; remove that text from the record.")

    def _marked_ids(self, text: str, texts: list[str], record: Record) -> list[int]:
        parts = _MARK_RE.split(text)  # template text, message index, template text, ...
        ids: list[int] = []
        for i, part in enumerate(parts):
            ids += self._ids(part) if i % 2 == 0 else self._plain_ids(texts[int(part)], record)
        return ids

    def _plain_ids(self, text: str, record: Record) -> list[int]:
        """Message text with any special-token strings in it kept as text, not turned into special ids."""
        literal = [s for s in self._specials if s in text]
        if not literal:
            return self._ids(text)
        tok = self.tokenizer
        ids = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        if set(ids) & set(tok.all_special_ids):
            raise DatasetError(f"{record.where()}: a message contains the special token text {literal[0]!r} and "
                               f"this tokenizer ({type(tok).__name__}) ignores split_special_tokens, so it cannot "
                               "be encoded as plain text; use a fast tokenizer or remove that text from the record.")
        return ids


def _fill(text: str, texts: Sequence[str]) -> str:
    """`text` with each message mark replaced by that message's text."""
    return _MARK_RE.sub(lambda m: texts[int(m[1])], text)


def encode_records(formatter: ChatFormatter, records: Iterable[Record],
                   max_seq_len: int) -> tuple[list[Encoded], list[str]]:
    """Encode records; those longer than `max_seq_len` are dropped (a cut answer would lose its EOS)."""
    kept, dropped = [], []
    for r in records:
        enc = formatter.encode(r)
        (kept if len(enc) <= max_seq_len else dropped).append(enc if len(enc) <= max_seq_len else r.where())
    return kept, dropped


def pad_batch(examples: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded batch; labels stay -100 on padding, whatever the pad token is."""
    import torch  # deferred: encoding is imported by code that must not load torch

    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def pack_examples(examples: Sequence[Encoded], max_seq_len: int) -> list[list[Encoded]]:
    """Group examples into rows of at most `max_seq_len` tokens (first-fit decreasing)."""
    rows: list[list[Encoded]] = []
    room: list[int] = []
    for e in sorted(examples, key=len, reverse=True):
        for i, free in enumerate(room):
            if len(e) <= free:
                rows[i].append(e)
                room[i] -= len(e)
                break
        else:
            rows.append([e])
            room.append(max_seq_len - len(e))
    return rows


def packed_batch(rows: Sequence[Sequence[Encoded]], pad_id: int) -> dict[str, Any]:
    """Packed rows with position ids restarting per example and no attention mask.

    transformers reads the restarts in `position_ids` as example boundaries and keeps attention
    inside each example (block-diagonal causal mask), so packing does not mix examples. That
    detection needs no KV cache: training runs with ``use_cache=False``.
    """
    import torch

    width = max(sum(len(e) for e in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        at = 0
        for e in row:
            n = len(e)
            ids[i, at:at + n] = torch.tensor(e.input_ids)
            labels[i, at:at + n] = torch.tensor(e.labels)
            pos[i, at:at + n] = torch.arange(n)
            at += n
        if at < width:
            pos[i, at:] = torch.arange(width - at)
    # num_tokens (padding excluded) is for throughput figures; the training loop removes it.
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "num_tokens": sum(len(e) for r in rows for e in r)}


def _segments(labels: list[int], positions: list[int] | None) -> list[tuple[int, int]]:
    if positions is None:
        return [(0, len(labels))]
    starts = [i for i, p in enumerate(positions) if p == 0] + [len(labels)]
    return list(zip(starts, starts[1:]))


def check_loss_mask(batches: Iterable[dict[str, Any]], tokenizer: Any, max_batches: int = 4,
                    decode: Callable[[list[int]], str] | None = None) -> dict[str, Any]:
    """Verify, on real batches, that every example trains its answer and its final EOS.

    Returns a sample of the decoded loss-carrying text for the job log; raises LossMaskError
    naming the first bad example otherwise.
    """
    eos = tokenizer.eos_token_id
    decode = decode or (lambda ids: tokenizer.decode(ids))
    checked, sample = 0, None
    for b_index, batch in enumerate(batches):
        if b_index >= max_batches:
            break
        ids, labels = batch["input_ids"].tolist(), batch["labels"].tolist()
        positions = batch["position_ids"].tolist() if "position_ids" in batch else None
        for row in range(len(ids)):
            for start, end in _segments(labels[row], positions[row] if positions else None):
                seg_labels, seg_ids = labels[row][start:end], ids[row][start:end]
                trained = [t for t in seg_labels if t != IGNORE_INDEX]
                if not trained:
                    if all(t == tokenizer.pad_token_id for t in seg_ids):
                        continue  # the padding tail of a packed row
                    raise LossMaskError(f"batch {b_index} row {row}: no token carries loss, so the example "
                                        "teaches nothing; check that the answer is not masked with the prompt.")
                if trained[-1] != eos:
                    raise LossMaskError(
                        f"batch {b_index} row {row}: the last token carrying loss is {decode(trained[-1:])!r}, not "
                        f"EOS {tokenizer.eos_token!r}; the model would never learn to stop. Typical cause: padding "
                        "with the EOS token and masking every pad (which masks the real EOS too). Loss is on: "
                        f"{decode(trained)[-120:]!r}")
                if len(trained) == len(seg_ids):
                    raise LossMaskError(f"batch {b_index} row {row}: every token carries loss, prompt included; "
                                        "train on the completion only.")
                checked += 1
                if sample is None:
                    sample = decode(trained)
    if not checked:
        raise LossMaskError("no example to check: the training set is empty after encoding.")
    return {"examples_checked": checked, "loss_text_sample": (sample or "")[-300:]}
