import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from skilldeck.tools.finetune.encoding import (  # noqa: E402
    FALLBACK_TEMPLATE, ChatFormatter, check_loss_mask, pack_examples, packed_batch, pad_batch)
from skilldeck.tools.finetune.errors import LossMaskError  # noqa: E402
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
