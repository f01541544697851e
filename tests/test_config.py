"""Config: YAML + dotted overrides, type checks, unknown keys, loss presets, save / load round trip."""

from pathlib import Path

import pytest

from ltsnn.config import Config, ConfigError, changed_keys, config_to_dict, load_config, save_config
from ltsnn.data.datasets import DATASETS
from ltsnn.models import MODELS


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_paper_recipe():
    cfg = load_config()
    assert cfg == Config()
    assert (cfg.model.name, cfg.model.threshold_grad, cfg.model.learn_first_threshold) == ("vgg_tiny", "sgp", False)
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.scheduler) == (1e-3, 0.0, "cosine")
    assert (cfg.loss.preset, cfg.loss.w_tet, cfg.loss.w_mse, cfg.loss.omega) == ("ltsnn_code", 0.55, 0.45, "official")
    assert (cfg.data.name, cfg.data.n_time_bins, cfg.data.batch_size) == ("ndigits", 8, 32)


def test_yaml_then_overrides_parsed_as_yaml_scalars(tmp_path):
    path = write(tmp_path, "model:\n  name: vgg9\n  options: {dropout: 0.5}\ntrain:\n  epochs: 7\noptim:\n  lr: 1e-2\n")
    cfg = load_config(path, ["train.epochs=3", "optim.lr=2e-4", "model.learn_first_threshold=true",
                             "model.options.dropout=0.1", "model.neuron_options.decay=0.25",
                             "model.neuron_options.surrogate.width=2", "train.name=007", "data.root=../x"])
    assert cfg.model.name == "vgg9" and cfg.train.epochs == 3
    assert cfg.optim.lr == 2e-4 and isinstance(cfg.optim.lr, float)    # PyYAML reads "2e-4" as text
    assert cfg.model.learn_first_threshold is True
    assert cfg.model.options == {"dropout": 0.1}
    assert cfg.model.neuron_options == {"decay": 0.25, "surrogate": {"width": 2}}
    assert cfg.train.name == "007" and cfg.data.root == "../x"          # text keys keep the text as written
    assert load_config(path).optim.lr == 1e-2
    assert load_config(None, ["model.options={dropout: 0.2, x: [1, 2]}"]).model.options == {"dropout": 0.2, "x": [1, 2]}


@pytest.mark.parametrize("text, message", [
    ("model:\n  nmae: x\n", "c.yaml: unknown key in section 'model' 'nmae'; valid: encoder, encoder_options, learn_first_threshold, name, "
                            "neuron, neuron_options, options, quant_bits, quant_coeff, quant_linear, threshold_grad"),
    ("modle:\n  name: x\n", "unknown section 'modle'; valid: data, detection, loss, model, optim, train"),
    ("train: 3\n", "section 'train' must be a mapping"),
    ("- a\n", "expected a mapping of sections"),
    ("train:\n  epochs: [1\n", "invalid YAML at line"),
    ("train:\n  epochs: 1.5\n", "c.yaml: train.epochs: expected int, got 1.5 (float)"),
    ("train:\n  epochs: true\n", "train.epochs: expected int, got True"),
    ("model:\n  learn_first_threshold: 1\n", "expected bool"),
    ("model:\n  options: 3\n", "model.options: expected a mapping"),
    ("train:\n  epochs: 0\n", "train.epochs: expected a value >= 1, got 0"),
    ("optim:\n  lr: 0\n", "optim.lr: expected a value > 0"),
    ("optim:\n  scheduler: step\n", "optim.scheduler: expected one of cosine, constant, got 'step'"),
    ("loss:\n  preset: nope\n", "loss.preset: expected one of ltsnn_code, ltsnn_eq12, tet, custom"),
    ("model:\n  options: {in_channels: 3}\n", "model.options.in_channels: set from the data set"),
    ("model:\n  options: {threshold_grad: stsg}\n", "use model.threshold_grad instead"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", "unknown key in section 'train' 'epoch'; valid: checkpoint_every, device, divergence_factor, epochs"),
    ("trian.epochs=3", "unknown section 'trian'"),
    ("train.epochs", "expected section.key=value"),
    ("epochs=3", "expected section.key=value"),
    ("train.epochs=three", "train.epochs: expected int, got 'three'"),
    ("train.epochs.x=1", "train.epochs is not a mapping"),
    ("train.progress=sometimes", "expected one of auto, always, never"),
    ("optim.lr=nan", "optim.lr: expected a finite number, got nan"),
    ("optim.weight_decay=.inf", "expected a finite number"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml not found"):
        load_config(tmp_path / "nope.yaml")


def test_loss_presets_fill_the_fields_and_refuse_contradictions():
    cfg = load_config(None, ["loss.preset=tet"])
    assert (cfg.loss.kind, cfg.loss.w_tet, cfg.loss.w_mse, cfg.loss.omega) == ("tet", 0.999, 0.001, "fixed")
    assert load_config(None, ["loss.preset=ltsnn_eq12", "loss.w_tet=0.45"]).loss.w_mse == 0.55   # agrees: fine
    with pytest.raises(ConfigError, match="loss.w_mse=0.1 conflicts with loss.preset='ltsnn_code'.*preset=custom"):
        load_config(None, ["loss.w_mse=0.1"])
    cfg = load_config(None, ["loss.preset=custom", "loss.kind=mean_ce", "loss.w_mse=0", "loss.omega=fixed"])
    assert (cfg.loss.kind, cfg.loss.w_tet, cfg.loss.w_mse, cfg.loss.omega) == ("mean_ce", 0.55, 0.0, "fixed")


def test_saved_config_loads_back_identical(tmp_path):
    cfg = load_config(None, ["model.options.dropout=0.1", "train.name=x", "loss.preset=tet", "optim.lr=3e-4"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


def test_base_config_and_changed_keys():
    stored = config_to_dict(load_config(None, ["train.epochs=4", "model.options.dropout=0.1"]))
    cfg = load_config(None, ["train.epochs=6", "model.options.p=1"], base=stored, source="ckpt.pt")
    assert cfg.train.epochs == 6 and cfg.model.options == {"dropout": 0.1, "p": 1}
    assert stored["model"]["options"] == {"dropout": 0.1}                # the base is not modified
    assert changed_keys(load_config(base=stored), cfg) == ["model.options", "train.epochs"]
    with pytest.raises(ConfigError, match="ckpt.pt: unknown key in section 'train' 'old'"):
        load_config(base={"train": {"old": 1}}, source="ckpt.pt")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.model.name in MODELS and cfg.data.name in DATASETS and cfg.train.epochs >= 1


def test_optimizer_keys():
    assert (load_config().optim.name, load_config().optim.threshold_lr) == ("adam", None)    # one group, lr for all
    assert load_config(None, ["optim.threshold_lr=1e-4"]).optim.threshold_lr == 1e-4
    assert load_config(None, ["optim.threshold_lr=null"]).optim.threshold_lr is None
    assert load_config(None, ["optim.name=sgd", "optim.momentum=0.5"]).optim.momentum == 0.5
    with pytest.raises(ConfigError, match="optim.momentum=0.5 is an SGD option"):
        load_config(None, ["optim.momentum=0.5"])
    with pytest.raises(ConfigError, match="optim.name: expected one of adam, sgd"):
        load_config(None, ["optim.name=rmsprop"])
    with pytest.raises(ConfigError, match="optim.threshold_lr: expected a value >= 0"):
        load_config(None, ["optim.threshold_lr=-1"])
