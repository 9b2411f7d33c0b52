"""The run config's causal-LM fields: defaults, old configs, and refusals naming the field."""

import pytest

from distill_core.core.config import RunConfig, from_dict
from distill_core.core.errors import ConfigError


def test_old_configs_without_task_or_lm_still_load_as_classification():
    config = from_dict({"name": "old", "batch_size": 8})
    assert config.task == "classification" and config.lm.top_k == 64


def test_a_causal_lm_config_round_trips():
    data = {"task": "causal-lm", "teacher": {"model": "smollm2"}, "lm": {"top_k": 32, "divergence": "jsd",
                                                                          "beta": 0.3}}
    config = from_dict(data)
    assert (config.task, config.lm.top_k, config.lm.divergence, config.lm.beta) == ("causal-lm", 32, "jsd", 0.3)
    assert from_dict(config.to_dict()) == config


@pytest.mark.parametrize("changes, field, allowed", [
    ({"task": "translation"}, "task", "classification | causal-lm"),
    ({"lm": {"top_k": 0}}, "lm.top_k", "1 to 1024"),
    ({"lm": {"divergence": "tvd"}}, "lm.divergence", "kl | reverse-kl | jsd"),
    ({"lm": {"beta": 1.5}}, "lm.beta", "0 to 1"),
    ({"lm": {"unlikelihood": -0.5}}, "lm.unlikelihood", "0 to 10"),
    ({"lm": {"eval_blocks": 0}}, "lm.eval_blocks", "1 to 10000"),
    ({"lm": {"prompt": " "}}, "lm.prompt", "1 to 4000 characters"),
    ({"lm": {"max_new_tokens": 0}}, "lm.max_new_tokens", "1 to 1024"),
    ({"teacher": {"model": "smollm2", "finetune_epochs": 1.0}}, "teacher.finetune_epochs", "0 for causal-lm"),
    ({"loss": {"hidden_weight": 1.0}}, "loss.hidden_weight", "0 for causal-lm"),
    ({"max_length": 4}, "max_length", ">= 8 for causal-lm"),
    ({"student": {"trim_vocab": True}}, "student.trim_vocab", "false for causal-lm"),
])
def test_bad_lm_fields_are_refused_naming_the_field(changes, field, allowed):
    data = {"task": "causal-lm", "teacher": {"model": "smollm2"}} | changes
    if "teacher" in changes:
        data["teacher"] = changes["teacher"]
    with pytest.raises(ConfigError) as err:
        from_dict(data)
    assert err.value.field == field and allowed in err.value.message


def test_classification_runs_keep_their_features_and_still_check_lm_ranges():
    assert from_dict({"teacher": {"finetune_epochs": 1.0}, "loss": {"hidden_weight": 1.0}}).task == "classification"
    with pytest.raises(ConfigError, match="1 to 1024"):
        from_dict({"lm": {"top_k": 0}})
    assert RunConfig().lm.divergence == "kl"
