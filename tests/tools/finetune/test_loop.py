import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from skilldeck.tools.finetune.encoding import ChatFormatter, pad_batch  # noqa: E402
from skilldeck.tools.finetune.loop import TrainingLoop, make_optimizer, make_scheduler  # noqa: E402
from skilldeck.tools.finetune.records import record_from_row  # noqa: E402
from tests.tools.finetune.tiny import build_tiny, sentiment_rows  # noqa: E402


class _OldStyle(torch.nn.Module):
    """A model whose forward takes no extra keyword arguments (transformers before 4.46)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, labels, attention_mask):
        return self.inner(input_ids=input_ids, labels=labels, attention_mask=attention_mask)


def _step_loss(model, batches):
    opt = make_optimizer(model, 1e-3, 0.0)
    loop = TrainingLoop(model, opt, make_scheduler(opt, "constant", 0, 1), "cpu", torch.float32)
    return loop.step(batches), loop


def test_accumulated_loss_is_normalised_by_all_targets_with_or_without_the_kwarg(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(path)
    fmt = ChatFormatter(tok)
    rows = sentiment_rows(5)
    rows[4]["output"] = '{"label": "positive", "note": "a longer answer with more target tokens"}'
    enc = [fmt.encode(record_from_row(r)) for r in rows]
    batches = [pad_batch(enc[:1], tok.pad_token_id), pad_batch(enc[1:], tok.pad_token_id)]
    new, _ = _step_loss(AutoModelForCausalLM.from_pretrained(path), batches)
    old, loop = _step_loss(_OldStyle(AutoModelForCausalLM.from_pretrained(path)), batches)
    assert loop.items_kwarg is False
    assert new.loss == pytest.approx(old.loss, rel=1e-5)
    # One big batch gives the same per-token mean as the two accumulated micro-batches.
    whole, _ = _step_loss(AutoModelForCausalLM.from_pretrained(path), [pad_batch(enc, tok.pad_token_id)])
    assert whole.loss == pytest.approx(new.loss, rel=1e-4)
    assert new.target_tokens == whole.target_tokens and new.tokens == sum(len(e) for e in enc)
