"""What the report says about energy, size and spiking layers, and what its plots show."""

import pytest

from ltsnn.engine import plots
from ltsnn.engine.report import energy_summary, size_summary


def _report(snn_pj: float, ann_pj: float, *, spiking: bool = True) -> dict:
    return {"spiking": spiking, "synaptic": {"time_steps": 4, "total": {"snn_energy_pj": snn_pj, "ann_energy_pj": ann_pj}}}


def test_energy_line_names_both_sides_and_says_less_or_more():
    less = energy_summary(_report(1e6, 9.7e6))
    assert "this SNN (T = 4) 1 µJ" in less and "the same network run once as an ANN 9.7 µJ" in less
    assert less.endswith("the SNN needs 9.70× less")
    assert energy_summary(_report(3e6, 2e6)).endswith("the SNN needs 1.50× more")       # not "0.7×"


def test_a_network_without_spiking_neurons_gets_no_verdict():
    line = energy_summary(_report(1e6, 9.7e6, spiking=False))
    assert "9.7 µJ as an ANN" in line and "no spiking neurons" in line
    assert "less" not in line and "more" not in line and "SNN (T" not in line


def test_size_line_says_same_size_for_float_weights():
    assert size_summary({"mb": 0.2, "compression": 1.0}) == "model 0.200 MB, the same size as float (32-bit weights)"
    assert size_summary({"mb": 0.05, "compression": 6.4}) == "model 0.050 MB, 6.40× smaller than float"


def _records(layers: list[str]) -> list[dict]:
    return [{"epoch": e, "thresholds": {n: 1.0 + 0.1 * i * e for i, n in enumerate(layers)}, "fixed_layers": [],
             "firing_rates": {n: 0.01 * (i + e) for i, n in enumerate(layers)}} for e in (1, 2)]


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would save: (file name, figure) pairs, nothing written."""
    saved = []

    def keep(fig, path, plt, *, dpi):
        saved.append((path.name, fig))
        return path
    monkeypatch.setattr(plots, "save_figure", keep)
    return saved


def test_neuron_plots_carry_the_run_name_and_tell_19_layers_apart(tmp_path, figures):
    layers = [f"block{i}.lif" for i in range(19)]
    written = plots.write_neuron_plots(_records(layers), tmp_path, run_name="resnet19-seed0")
    assert [p.name for p in written] == ["thresholds.png", "firing_rates.png"]
    (_, thresholds), (_, rates) = figures
    assert thresholds.axes[0].get_title().startswith("resnet19-seed0: ")
    assert rates._suptitle.get_text() == "resnet19-seed0"
    for ax in (thresholds.axes[0], rates.axes[1]):
        styles = {(tuple(line.get_color()), line.get_marker()) for line in ax.get_lines()}
        assert len(ax.get_lines()) == 19 and len(styles) == 19
        assert len({tuple(line.get_color()) for line in ax.get_lines()}) == 19


def test_an_ann_run_gets_no_empty_spike_plots(tmp_path, figures):
    assert plots.write_neuron_plots(_records([]), tmp_path, run_name="qcfs") == []
    assert figures == []


def test_energy_plot_of_an_ann_has_no_snn_bars(tmp_path, figures):
    ops = {"time_steps": 1, "layers": {"c": {"label": "conv1", "input": "real", "snn_energy_pj": 5.0,
                                             "ann_energy_pj": 5.0}},
           "total": {"snn_energy_pj": 5.0, "ann_energy_pj": 5.0}}
    plots.write_energy_plot(ops, tmp_path / "energy.png", run_name="qcfs", spiking=False)
    plots.write_energy_plot(ops | {"total": {"snn_energy_pj": 9.0, "ann_energy_pj": 5.0}}, tmp_path / "e.png",
                            run_name="snn")
    (_, ann), (_, snn) = figures
    assert len(ann.axes[0].patches) == 1 and "qcfs: " in ann.axes[0].get_title() and "SNN" not in ann.axes[0].get_title()
    assert len(snn.axes[0].patches) == 2 and "1.80× more" in snn.axes[0].get_title()
