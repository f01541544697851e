"""The one builder: a config in, data / model / task / optimizer out, and restore(checkpoint, overrides, allowed)."""

import pytest
import torch

from ltsnn.build import EVAL_KEYS, RESUME_KEYS, build_run, model_args_for, model_from_args, restore
from ltsnn.config import ConfigError, config_to_dict, load_config
from ltsnn.engine import CheckpointError, save_checkpoint
from ltsnn.engine.checkpoint import rng_state
from ltsnn.neurons import NeuronSpec, threshold_parameters
from ltsnn.tasks.classification import ClassificationTask
from ltsnn.tasks.detection import DetectionTask


def test_a_classification_run_from_python_without_argv():
    cfg = load_config(None, ["data.n_time_bins=2", "optim.name=sgd", "optim.lr=0.1", "optim.threshold_lr=0.01",
                             "loss.preset=tet", "model.neuron_options.decay=0.25"])
    run = build_run(cfg, log=lambda line: None)
    assert isinstance(run.task, ClassificationTask) and run.task.omega.mode == "fixed"     # the tet preset's Ω
    assert type(run.optimizer) is torch.optim.SGD and [g["lr"] for g in run.optimizer.param_groups] == [0.1, 0.01]
    assert run.optimizer.param_groups[1]["params"] == threshold_parameters(run.model)
    # N-Digits' 1,438 training samples less the default validation tenth (per class: 143) and its 359 test ones.
    assert (len(run.data.train), len(run.data.val), len(run.data.test), run.data.batch_size) == (1295, 143, 359, 32)
    assert not set(run.data.train.indices) & set(run.data.val.indices)
    spec = NeuronSpec.from_dict(run.model_args["kwargs"]["neuron"])
    assert spec == NeuronSpec("lif", threshold_grad="sgp", options={"decay": 0.25})
    assert all(m.decay == 0.25 for m in run.model.modules() if hasattr(m, "decay"))


def test_the_model_is_seeded_by_train_seed():
    a, b, c = (build_run(load_config(None, [f"train.seed={s}", "data.n_time_bins=2"]), log=lambda line: None)
               for s in (3, 3, 4))
    first = [r.model.features[0][0].weight for r in (a, b, c)]
    assert torch.equal(first[0], first[1]) and not torch.equal(first[0], first[2])


def test_a_detection_data_set_gets_the_detection_task(tmp_path):
    cfg = load_config(None, ["data.name=moving_shapes", "model.name=yolo_tiny", "data.n_time_bins=2",
                             "data.options.train_size=4", "data.options.test_size=2", f"data.cache_dir={tmp_path}"])
    run = build_run(cfg, log=lambda line: None)
    assert isinstance(run.task, DetectionTask) and run.task.metric == "map50"
    with pytest.raises(ConfigError, match="is a detection data set; model.name=vgg_tiny is not a detector"):
        build_run(load_config(None, ["data.name=moving_shapes", "data.n_time_bins=2", "data.options.train_size=4",
                                     "data.options.test_size=2", f"data.cache_dir={tmp_path}"]), log=lambda line: None)


@pytest.fixture
def checkpoint(tmp_path):
    cfg = load_config(None, ["data.n_time_bins=2", "model.threshold_grad=stsg"])
    run = build_run(cfg, log=lambda line: None)
    with torch.no_grad():
        for p in threshold_parameters(run.model):
            p.fill_(1.5)                                        # "trained" weights to find again
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": run.model.state_dict(), "model_args": run.model_args, "optimizer": {},
                           "scheduler": {}, "epoch": 1, "step": 1, "task": run.task.state_dict(), "rng": rng_state(),
                           "config": config_to_dict(cfg), "history": []})
    return path


def test_restore_rebuilds_the_model_with_its_weights(checkpoint):
    restored = restore(checkpoint, ["data.batch_size=8"], allowed=EVAL_KEYS)
    assert restored.config.data.batch_size == 8 and restored.config.model.threshold_grad == "stsg"
    assert all(float(p) == 1.5 for p in threshold_parameters(restored.model))


def test_restore_refuses_keys_outside_allowed(checkpoint):
    with pytest.raises(ConfigError, match=r"resuming: cannot change optim.lr; only train.epochs, .* may change"):
        restore(checkpoint, ["optim.lr=0.5"], allowed=RESUME_KEYS, why="resuming")
    with pytest.raises(ConfigError, match="cannot change data.seed"):
        restore(checkpoint, ["data.seed=1"], allowed=EVAL_KEYS)


def test_restore_needs_a_rebuildable_checkpoint(checkpoint, tmp_path):
    state = torch.load(checkpoint, weights_only=True)
    state["model_args"] = {}                                    # what fit writes for a run built by hand
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, {k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="does not say how to rebuild its model"):
        restore(bare, allowed=EVAL_KEYS)


def test_model_args_round_trip_through_a_checkpoint(tmp_path):
    cfg = load_config(None, ["model.name=vgg7", "model.quant_bits=4", "model.neuron_options.decay=0.5"])
    run = build_run(cfg, log=lambda line: None)
    torch.save(run.model_args, tmp_path / "args.pt")
    args = torch.load(tmp_path / "args.pt", weights_only=True)
    again = model_from_args(args)
    assert args == model_args_for(cfg.model, run.data.train) and "quant" in args
    assert again.state_dict().keys() == run.model.state_dict().keys()


def test_a_version_1_checkpoint_is_read_back(checkpoint, tmp_path):
    """Checkpoints written before the restructure: Ω at the top, the neuron as four model keywords, and
    I-LIF's placeholder threshold buffer."""
    state = torch.load(checkpoint, weights_only=True)
    spec = state["model_args"]["kwargs"].pop("neuron")
    state["model_args"]["kwargs"].update(neuron=spec["name"], threshold_grad=spec["threshold_grad"],
                                         learn_first_threshold=spec["learn_first_threshold"],
                                         neuron_options=spec["options"])
    state["omega"] = state.pop("task")["omega"]
    state["model"]["features.2.v_th_placeholder.v_th"] = torch.tensor(1.0)     # a key the model no longer has
    state["version"] = 1
    old = tmp_path / "v1.pt"
    torch.save(state, old)
    restored = restore(old, allowed=EVAL_KEYS)
    assert restored.checkpoint["task"] == {"omega": 1.0} and "omega" not in restored.checkpoint
    assert NeuronSpec.from_dict(restored.checkpoint["model_args"]["kwargs"]["neuron"]).threshold_grad == "stsg"
    assert all(float(p) == 1.5 for p in threshold_parameters(restored.model))
    state["model"]["features.0.0.weight_extra"] = torch.zeros(1)               # anything else still refuses
    torch.save(state, old)
    with pytest.raises(CheckpointError, match="weight_extra"):
        restore(old, allowed=EVAL_KEYS)
