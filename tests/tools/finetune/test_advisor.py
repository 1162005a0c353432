import pytest
from pydantic import ValidationError

from skilldeck.tools.finetune.advisor import AdviceRequest, advise, memory_needs_gb


def _approach(**kw) -> str:
    return advise(AdviceRequest(**kw)).approach


def test_weekly_changing_task_gets_no_weights_even_with_many_examples():
    assert _approach(examples=50_000, task_change="weekly", gpu_memory_gb=80) == "prompting_retrieval"


def test_missing_knowledge_points_to_retrieval():
    advice = advise(AdviceRequest(examples=5000, gap="knowledge"))
    assert advice.approach == "prompting_retrieval"
    assert any("retrieval" in r.lower() for r in advice.reasons)


def test_under_a_hundred_examples_means_few_shot_prompting():
    assert _approach(examples=99) == "few_shot"


def test_no_evaluation_set_means_build_one_first():
    assert _approach(examples=800, can_evaluate=False) == "build_eval_first"


def test_hundreds_of_examples_get_lora_with_the_standard_start():
    advice = advise(AdviceRequest(examples=500, gap="behaviour", model_params_b=1.5, gpu_memory_gb=24))
    assert advice.approach == "lora"
    hp = advice.hyperparameters
    assert (hp["r"], hp["lora_alpha"], hp["lora_dropout"], hp["learning_rate"]) == (16, 32, 0.05, 2e-4)
    assert hp["target_modules"] == "all-linear" and hp["lr_scheduler"] == "cosine"


def test_tight_memory_switches_to_qlora():
    advice = advise(AdviceRequest(examples=2000, model_params_b=7, gpu_memory_gb=10))
    assert advice.approach == "qlora"
    assert "4-bit" in " ".join(advice.reasons)


def test_large_dataset_with_room_can_pay_for_full_fine_tuning():
    advice = advise(AdviceRequest(examples=50_000, model_params_b=1, gpu_memory_gb=80))
    assert advice.approach == "full"
    assert advice.hyperparameters["learning_rate"] <= 2e-5


def test_large_dataset_without_room_stays_with_lora():
    assert _approach(examples=50_000, model_params_b=7, gpu_memory_gb=40) == "lora"


def test_memory_estimates_order_full_over_lora_over_qlora():
    need = memory_needs_gb(7)
    assert need["full"] > need["lora"] > need["qlora"]


def test_negative_example_count_is_rejected():
    with pytest.raises(ValidationError):
        AdviceRequest(examples=-1)
