import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from skilldeck.tools.finetune.encoding import (  # noqa: E402
    FALLBACK_TEMPLATE, ChatFormatter, check_loss_mask, pack_examples, packed_batch, pad_batch)
from skilldeck.tools.finetune.errors import DatasetError, LossMaskError  # noqa: E402
from skilldeck.tools.finetune.records import record_from_row  # noqa: E402
from tests.tools.finetune.tiny import build_tiny, sentiment_rows  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


def _encoded(tokenizer, n=3):
    formatter = ChatFormatter(tokenizer)
    return [formatter.encode(record_from_row(r)) for r in sentiment_rows(n)]


def test_only_the_answer_and_its_eos_carry_loss(tokenizer):
    enc = _encoded(tokenizer, 1)[0]
    trained = [t for t in enc.labels if t != -100]
    assert tokenizer.decode(trained) == '{"label": "negative"}</s>'
    assert enc.labels[:len(enc) - len(trained)] == [-100] * (len(enc) - len(trained))


def test_fallback_template_is_installed_when_the_tokenizer_has_none(tokenizer):
    formatter = ChatFormatter(tokenizer)
    assert formatter.template_source == "fallback" and tokenizer.chat_template == FALLBACK_TEMPLATE
    prompt, completion = formatter.split(record_from_row(sentiment_rows(1)[0]))
    assert prompt.endswith("### Assistant:\n") and completion.startswith('{"label"')


def test_a_tokenizer_template_without_eos_still_trains_eos(tokenizer):
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    enc = ChatFormatter(tokenizer).encode(record_from_row(sentiment_rows(1)[0]))
    assert enc.labels[-1] == tokenizer.eos_token_id
    assert tokenizer.decode([t for t in enc.labels if t != -100]).endswith("<|end|></s>")


def test_padding_with_eos_and_masking_every_pad_is_caught(tokenizer):
    tokenizer.pad_token = tokenizer.eos_token  # the classic set-up ...
    batch = pad_batch(_encoded(tokenizer), tokenizer.pad_token_id)
    labels = batch["input_ids"].clone()
    labels[batch["input_ids"] == tokenizer.pad_token_id] = -100  # ... and the classic bug: EOS masked too
    labels[batch["labels"] == -100] = -100
    with pytest.raises(LossMaskError, match="never learn to stop"):
        check_loss_mask([{**batch, "labels": labels}], tokenizer)


def test_explicit_labels_keep_eos_even_when_pad_is_eos(tokenizer):
    tokenizer.pad_token = tokenizer.eos_token
    report = check_loss_mask([pad_batch(_encoded(tokenizer), tokenizer.pad_token_id)], tokenizer)
    assert report["examples_checked"] == 3 and report["loss_text_sample"].endswith("</s>")


def test_training_on_the_prompt_is_caught(tokenizer):
    batch = pad_batch(_encoded(tokenizer, 1), tokenizer.pad_token_id)
    with pytest.raises(LossMaskError, match="prompt included"):
        check_loss_mask([{**batch, "labels": batch["input_ids"].clone()}], tokenizer)


def test_packed_rows_keep_examples_apart(tiny, tokenizer):
    from transformers import AutoModelForCausalLM

    examples = _encoded(tokenizer, 3)
    rows = pack_examples(examples, 256)
    assert len(rows) == 1 and len(rows[0]) == 3
    packed = packed_batch(rows, tokenizer.pad_token_id)
    assert check_loss_mask([packed], tokenizer)["examples_checked"] == 3
    model = AutoModelForCausalLM.from_pretrained(tiny).eval()
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        first = rows[0][0]
        alone = model(input_ids=torch.tensor([first.input_ids])).logits[0]
        second = rows[0][1]
        alone2 = model(input_ids=torch.tensor([second.input_ids])).logits[0]
    n1 = len(first)
    assert torch.allclose(together[:n1], alone, atol=1e-4)
    assert torch.allclose(together[n1:n1 + len(second)], alone2, atol=1e-4)  # no attention across the boundary


QUOTING_EOS = 'Write "</s>" to end a turn; <pad> only fills batches. Done.'


def _quoting(completion=QUOTING_EOS, prompt="Explain the special tokens."):
    return record_from_row({"task": "explain", "instruction": prompt, "input": "", "output": completion})


def _trained(enc):
    return [t for t in enc.labels if t != -100]


def test_an_answer_quoting_eos_keeps_all_its_text_and_ends_with_one_eos(tokenizer):
    trained = _trained(ChatFormatter(tokenizer).encode(_quoting()))
    assert tokenizer.decode(trained) == QUOTING_EOS + "</s>"
    assert trained.count(tokenizer.eos_token_id) == 1 and trained[-1] == tokenizer.eos_token_id
    assert tokenizer.pad_token_id not in trained


def test_an_answer_quoting_eos_is_not_cut_when_the_template_writes_no_eos(tokenizer):
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    trained = _trained(ChatFormatter(tokenizer).encode(_quoting()))
    assert tokenizer.decode(trained) == QUOTING_EOS + "<|end|></s>"
    assert trained.count(tokenizer.eos_token_id) == 1


def test_a_prompt_quoting_eos_carries_no_eos_id(tokenizer):
    enc = ChatFormatter(tokenizer).encode(_quoting("ok", prompt="What does </s> mean?"))
    assert enc.input_ids.count(tokenizer.eos_token_id) == 1 and enc.input_ids[-1] == tokenizer.eos_token_id
    assert "What does </s> mean?" in tokenizer.decode(enc.input_ids)


def test_evaluation_prompts_are_the_training_prompts_and_quote_eos_as_text(tokenizer):
    fmt = ChatFormatter(tokenizer)
    record = _quoting("ok", prompt="What does </s> mean?")
    ids = fmt.prompt_ids(record)
    assert ids == fmt.encode(record).input_ids[:len(ids)] and tokenizer.eos_token_id not in ids
    assert tokenizer.decode(ids).endswith(fmt.prompt_text(record.prompt)[-20:])


def test_a_template_that_trims_messages_still_keeps_quoted_eos_as_text(tokenizer):
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] | trim }}{{ eos_token }}"
                               "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    trained = _trained(ChatFormatter(tokenizer).encode(_quoting("  " + QUOTING_EOS + "\n")))
    assert tokenizer.decode(trained) == QUOTING_EOS + "</s>"
    assert trained.count(tokenizer.eos_token_id) == 1


def test_a_template_that_rewrites_messages_quoting_eos_is_refused(tokenizer):
    tokenizer.chat_template = ("{% for m in messages %}{% if m['role'] == 'assistant' %}A:{% endif %}"
                               "{{ m['content'] | upper }}{{ eos_token }}{% endfor %}"
                               "{% if add_generation_prompt %}A:{% endif %}")
    with pytest.raises(DatasetError, match="'</s>'.*rewrites message text"):
        ChatFormatter(tokenizer).encode(_quoting())


def test_ordinary_answers_are_encoded_as_before_with_exactly_one_eos(tokenizer):
    for row, enc in zip(sentiment_rows(3), _encoded(tokenizer, 3)):
        trained = _trained(enc)
        assert trained == tokenizer(row["output"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert enc.input_ids.count(tokenizer.eos_token_id) == 1


def test_the_loss_mask_check_accepts_answers_quoting_eos(tokenizer):
    formatter = ChatFormatter(tokenizer)
    examples = [formatter.encode(_quoting()), *_encoded(tokenizer, 2)]
    report = check_loss_mask([pad_batch(examples, tokenizer.pad_token_id)], tokenizer)
    assert report["examples_checked"] == 3
    packed = packed_batch(pack_examples(examples, 256), tokenizer.pad_token_id)
    assert check_loss_mask([packed], tokenizer)["examples_checked"] == 3
