"""The classifier judge's plumbing, with a tiny random model built from a config (no download)."""

import pytest

from skilldeck.tools.errors import NotFoundError
from skilldeck.tools.verify import verify_answer
from skilldeck.tools.verify.errors import JudgeError
from skilldeck.tools.verify.nli import NliJudge, map_labels


@pytest.mark.parametrize("id2label, expected", [
    ({0: "entailment", 1: "neutral", 2: "contradiction"}, ["supported", "unsupported", "contradicted"]),
    ({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}, ["supported", "unsupported", "contradicted"]),
    ({0: "supported", 1: "not_supported"}, ["supported", "unsupported"]),
    ({0: "not_supported", 1: "supported"}, ["unsupported", "supported"]),
    ({0: "unsupported", 1: "supported"}, ["unsupported", "supported"]),
    ({0: "SUPPORTS", 1: "REFUTES", 2: "NOT ENOUGH INFO"}, ["supported", "contradicted", "unsupported"]),
    ({"0": "not_entailment", "1": "entailment"}, ["unsupported", "supported"]),
    ({0: "non-entailment", 1: "entailment"}, ["unsupported", "supported"]),
    ({0: "NOT_ENOUGH_INFO", 1: "SUPPORTS", 2: "REFUTES"}, ["unsupported", "supported", "contradicted"]),
])
def test_every_common_label_scheme_maps_whole_names_never_substrings(id2label, expected):
    # "not_supported" and "non-entailment" contain "support" / "entail": read as supported, a
    # two-class fact-check model would pass every claim.
    assert list(map_labels(id2label).values()) == expected


def test_generic_ids_need_an_override_and_all_supported_labels_are_refused():
    assert map_labels({0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": "unsupported", "LABEL_1": "supported"}) == {
        0: "unsupported", 1: "supported"}
    with pytest.raises(JudgeError, match="every label"):
        map_labels({0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": "supported", "LABEL_1": "supported"})


def test_labels_are_mapped_by_name_or_by_override():
    assert map_labels({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}) == {
        0: "supported", 1: "unsupported", 2: "contradicted"}
    assert map_labels({0: "SUPPORTS", 1: "REFUTES", 2: "NOT ENOUGH INFO"})[1] == "contradicted"
    assert map_labels({0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": "unsupported", "LABEL_1": "supported"}) == {
        0: "unsupported", 1: "supported"}
    with pytest.raises(JudgeError, match="'LABEL_0'.*pass labels="):
        map_labels({0: "LABEL_0", 1: "LABEL_1"})


def test_missing_model_folder_is_named(tmp_path):
    with pytest.raises(NotFoundError, match="config.json"):
        NliJudge(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-nli")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "bridge", "opened", "in", "1937", "1938", "."]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64, num_labels=3,
                                     id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
                                     label2id={"entailment": 0, "neutral": 1, "contradiction": 2})
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():  # make the head always answer "entailment", so the test knows what to expect
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    model.save_pretrained(folder)
    return folder


def test_tiny_classifier_judges_pairs_and_verify_uses_it(tiny_model):
    judge = NliJudge(tiny_model)
    verdicts = judge.judge([("the bridge opened in 1937 .", "the bridge opened in 1937 .")] * 3)
    assert [v for v, _ in verdicts] == ["supported"] * 3 and all(0.9 < p <= 1 for _, p in verdicts)
    evidence = ["The bridge opened in 1937."]
    report = verify_answer("The bridge began carrying cars in 1937. The bridge opened in 1938.", evidence,
                           judge=judge)
    assert report.backend == "lexical+nli"
    first, second = report.claims
    assert first.verdict == "supported" and first.judged_by == "nli"
    assert second.verdict == "contradicted"  # the number check is not the model's to overrule
