"""Run config: defaults, JSON round-trip, and every bad field rejected with its name."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill_core.core import config as cfgmod
from distill_core.core.config import RunConfig, from_dict, from_json, validate
from distill_core.core.errors import ConfigError


def test_defaults_validate():
    assert validate(RunConfig()) == RunConfig()
    assert from_dict({}) == RunConfig()


def test_json_round_trip_is_equal():
    original = RunConfig(name="round-trip", batch_size=8, max_length=64, seed=7)
    original.student.layers = [0, 3]
    original.loss.layer_map = [1, 5]
    original.data.max_train_examples = 100
    original.budget.unit, original.budget.value = "steps", 12.0
    again = from_json(original.to_json())
    assert again == original
    assert again.to_json() == original.to_json()


def test_ints_are_accepted_for_float_fields():
    assert from_dict({"learning_rate": 1, "loss": {"temperature": 3}}).loss.temperature == 3.0


def test_load_reads_a_config_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"name": "from-file", "batch_size": 4}))
    assert cfgmod.load(path).batch_size == 4


def test_invalid_json_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        from_json("{batch_size: 4")


def test_non_object_json_is_a_config_error():
    with pytest.raises(ConfigError, match="JSON object"):
        from_json("[1, 2]")


def _with(path: str, value) -> dict:
    """A default config dict with the dotted `path` set to `value`."""
    data = copy.deepcopy(RunConfig().to_dict())
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value
    return data


BAD_FIELDS = [
    ("loss.temperature", 0, "loss.temperature"),
    ("loss.temperature", -1.5, "loss.temperature"),
    ("loss.alpha", -0.1, "loss.alpha"),
    ("loss.alpha", 1.5, "loss.alpha"),
    ("loss.hidden_weight", -1, "loss.hidden_weight"),
    ("loss.hidden_loss", "l1", "loss.hidden_loss"),
    ("loss.layer_map", [], "loss.layer_map"),
    ("loss.layer_map", [0, -1], "loss.layer_map"),
    ("budget.value", 0, "budget.value"),
    ("budget.value", -3, "budget.value"),
    ("budget.unit", "hours", "budget.unit"),
    ("budget.eval_every", 0, "budget.eval_every"),
    ("batch_size", 0, "batch_size"),
    ("batch_size", 5000, "batch_size"),
    ("max_length", 1, "max_length"),
    ("learning_rate", 0, "learning_rate"),
    ("learning_rate", 2.0, "learning_rate"),
    ("seed", -1, "seed"),
    ("threads", -1, "threads"),
    ("device", "tpu", "device"),
    ("task", "generation", "task"),
    ("name", "   ", "name"),
    ("student.layers", [1, 1], "student.layers"),
    ("student.layers", [-1, 2], "student.layers"),
    ("student.layers", [], "student.layers"),
    ("student.kind", "prune", "student.kind"),
    ("student.num_layers", 0, "student.num_layers"),
    ("student.hidden_size", 0, "student.hidden_size"),
    ("student.init_from", "random", "student.init_from"),
    ("student.trim_vocab", "yes", "student.trim_vocab"),
    ("student.trim_vocab", 1, "student.trim_vocab"),
    ("teacher.model", "", "teacher.model"),
    ("teacher.finetune_epochs", -1, "teacher.finetune_epochs"),
    ("teacher.finetune_lr", 0, "teacher.finetune_lr"),
    ("data.source", " ", "data.source"),
    ("data.validation_fraction", 0.0, "data.validation_fraction"),
    ("data.test_fraction", 0.7, "data.test_fraction"),
    ("data.max_train_examples", 1, "data.max_train_examples"),
    ("data.transfer_copies", 0, "data.transfer_copies"),
    ("data.transfer_limit", 0, "data.transfer_limit"),
    # wrong types
    ("batch_size", "32", "batch_size"),
    ("batch_size", True, "batch_size"),
    ("batch_size", 32.0, "batch_size"),
    ("seed", None, "seed"),
    ("loss.temperature", "2", "loss.temperature"),
    ("loss.alpha", False, "loss.alpha"),
    ("control", 1, "control"),
    ("student.layers", "0,1", "student.layers"),
    ("student.layers", [0, "1"], "student.layers[1]"),
    ("teacher", "minilm", "teacher"),
    ("budget", [], "budget"),
    ("runtimes", ["tensorrt"], "runtimes"),
    ("runtimes", [], "runtimes"),
    ("runtimes", ["pytorch", "pytorch"], "runtimes"),
    ("runtimes", "onnxruntime", "runtimes"),
]


@pytest.mark.parametrize("path, value, field", BAD_FIELDS, ids=[f"{p}={v!r}" for p, v, _ in BAD_FIELDS])
def test_bad_field_is_rejected_with_its_name(path, value, field):
    with pytest.raises(ConfigError) as info:
        from_dict(_with(path, value))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_trim_vocab_is_off_by_default_and_round_trips_when_on():
    assert RunConfig().student.trim_vocab is False
    config = from_dict({"student": {"trim_vocab": True}})
    assert config.student.trim_vocab is True and from_json(config.to_json()) == config
    config.student.trim_vocab = "yes"  # set in code, past from_dict's type check
    with pytest.raises(ConfigError) as info:
        validate(config)
    assert info.value.field == "student.trim_vocab" and "true or false" in info.value.message


def test_hidden_size_must_divide_into_heads():
    data = _with("student.hidden_size", 30)
    data["student"]["num_heads"] = 4
    with pytest.raises(ConfigError, match="student.hidden_size"):
        from_dict(data)


def test_model_student_needs_a_model_reference():
    with pytest.raises(ConfigError, match="student.model"):
        from_dict({"student": {"kind": "model"}})


@pytest.mark.parametrize("value", [2.5, 0.1])
def test_non_integer_steps_budget_is_rejected(value):
    with pytest.raises(ConfigError, match="budget.value") as info:
        from_dict({"budget": {"unit": "steps", "value": value}})
    assert "whole number" in str(info.value)


def test_whole_float_steps_budget_is_accepted():
    assert from_dict({"budget": {"unit": "steps", "value": 8.0}}).budget.value == 8.0


def test_fractional_epochs_budget_is_accepted():
    assert from_dict({"budget": {"unit": "epochs", "value": 0.5}}).budget.value == 0.5


def test_validation_message_names_the_allowed_range():
    with pytest.raises(ConfigError, match=r"allowed: 0 to 1"):
        from_dict({"loss": {"alpha": 2}})


@pytest.mark.parametrize("data, field", [
    ({"batchsize": 8}, "batchsize"),
    ({"loss": {"temprature": 2}}, "loss.temprature"),
    ({"student": {"layers": [0], "depth": 2}}, "student.depth"),
])
def test_unknown_key_is_rejected_with_its_path(data, field):
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    assert info.value.field == field
    assert "unknown key" in str(info.value)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf")])
def test_non_finite_numbers_are_rejected(value):
    with pytest.raises(ConfigError, match="budget.value"):
        from_dict({"budget": {"unit": "epochs", "value": value}})


def test_huge_integer_for_a_float_field_is_a_config_error():
    with pytest.raises(ConfigError, match="learning_rate"):
        from_dict({"learning_rate": 10**400})


# --- property: anything JSON-like either loads or raises ConfigError -------------------------------------------

_FIELD_NAMES = sorted({f for cls in (cfgmod.RunConfig, cfgmod.TeacherConfig, cfgmod.StudentConfig,
                                     cfgmod.DataConfig, cfgmod.LossConfig, cfgmod.BudgetConfig)
                       for f in cls.__dataclass_fields__})
_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=8) | st.sampled_from(["steps", "epochs", "minutes", "keep-layers", "mse", "cpu"]))
_keys = st.sampled_from(_FIELD_NAMES) | st.text(max_size=6)
_json_like = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(_keys, inner, max_size=5), max_leaves=8)


def _leaf_paths(data: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        paths += _leaf_paths(value, f"{path}.") if isinstance(value, dict) else [path]
    return paths


_LEAF_PATHS = _leaf_paths(RunConfig().to_dict())


@st.composite
def _mutated_defaults(draw):
    """The default config with a few leaves replaced by arbitrary JSON-like values (reaches every range check)."""
    data = RunConfig().to_dict()
    for path in draw(st.lists(st.sampled_from(_LEAF_PATHS), min_size=1, max_size=4)):
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = draw(_json_like)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json_like, max_size=6) | _mutated_defaults())
def test_any_json_like_dict_loads_or_raises_config_error(data):
    try:
        config = from_dict(data)
    except ConfigError:
        return
    assert isinstance(config, RunConfig)
    assert from_json(config.to_json()) == config


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_config_error(text):
    try:
        from_json(text)
    except ConfigError:
        pass


def test_overlong_integer_in_json_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        from_json('{"seed": ' + "1" * 5000 + "}")


def test_every_preset_validates_and_round_trips():
    from distill_core.core import config
    from distill_core.tasks import presets

    for name in presets.preset_names():
        preset = presets.get_preset(name)
        config.validate(preset)
        assert config.from_json(preset.to_json()) == preset, name


@pytest.mark.parametrize("content, message", [
    ('{"batchsize": 8}', "error: batchsize: unknown key"),
    ('{"loss": {"temperature": "hot"}}', "error: loss.temperature: expected"),
    ('{"loss": {"alpha": 1.5}}', "error: loss.alpha:"),
    ("budget: 3", "error: not valid JSON"),
])
def test_cli_run_with_a_bad_config_file_exits_2_naming_the_field(tmp_path, capsys, content, message):
    from distill_core import cli
    from distill_core.runs import store

    path = tmp_path / "bad.json"
    path.write_text(content)
    assert cli.main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err
    assert store.list_runs() == [], "nothing is queued"


def test_seeds_data_seed_and_control_budget_are_checked_and_named():
    from distill_core.core import config as config_mod

    for change, field_name in (({"seeds": 0}, "seeds"), ({"seeds": 21}, "seeds"),
                               ({"control_budget": "double"}, "control_budget"),
                               ({"data": {"seed": -1}}, "data.seed")):
        with pytest.raises(ConfigError) as info:
            config_mod.from_dict({"seeds": 1, **change})
        assert info.value.field == field_name
    c = config_mod.from_dict({"seed": 4, "seeds": 3, "data": {"seed": 9}})
    assert config_mod.training_seeds(c) == [4, 5, 6] and c.data.seed == 9


def test_a_config_from_before_data_seeds_keeps_drawing_its_split_by_seed():
    from distill_core.core import config as config_mod

    old = {"seed": 3, "data": {"source": "reviews"}}  # written before `seeds` and `data.seed` existed
    assert config_mod.from_dict(old).data.seed == 3
    assert config_mod.from_dict({"seed": 3, "seeds": 1}).data.seed == 0
    assert config_mod.from_dict(config_mod.from_dict(old).to_dict()).data.seed == 3  # round trip keeps it
