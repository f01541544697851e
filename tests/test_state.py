"""State cannot leak between sequences (issue 14, finding 4): a user who never calls ``reset_states`` gets the
same predictions as one who does, any batch size may follow any other, and only an explicit stream carries
the membrane on."""

import inspect

import pytest
import torch

from ltsnn.models import MODELS, create_model
from ltsnn.neurons import NEURONS, SpikingNeuron, create_neuron, reset_states


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predictions_without_reset_states_equal_those_with_it(name):
    torch.manual_seed(0)
    sized_by_t = "time_steps" in inspect.signature(MODELS[name]).parameters    # attention weights per step
    model = create_model(name, in_channels=2, num_classes=4, input_size=(32, 32),
                         **({"time_steps": 3} if sized_by_t else {})).eval()
    x = torch.rand(3, 4, 2, 32, 32)
    with torch.no_grad():
        first = model(x)
        second = model(x)                                       # no reset_states in between
        other_batch = model(x[:, :1])                           # a smaller batch right after
        reset_states(model)
        fresh = model(x)
    assert torch.equal(first, second) and torch.equal(first, fresh)
    # Batch-norm in eval mode treats samples independently; conv algorithms may round differently per batch size.
    torch.testing.assert_close(other_batch, first[:, :1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_a_streamed_sequence_split_in_two_equals_the_whole(name):
    torch.manual_seed(1)
    x = torch.rand(6, 2, 3, 4, 4) * 2
    neuron = create_neuron(name)
    whole = neuron(x)
    if not isinstance(neuron, SpikingNeuron):                   # QCFS: an ANN activation, no state over time
        return
    if not neuron.streamable:                                   # LM-HT: step t depends on all T inputs
        with pytest.raises(ValueError, match="cannot be fed a stream in chunks"):
            neuron.stream = True
        return
    neuron.stream = True
    parts = torch.cat([neuron(x[:3]), neuron(x[3:])])
    assert torch.equal(parts, whole)
    reset_states(neuron)                                        # a bare neuron: the next call starts from rest
    assert torch.equal(neuron(x), whole)


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_each_call_starts_from_rest_for_any_batch_size(name):
    torch.manual_seed(2)
    neuron = create_neuron(name)
    x = torch.rand(4, 3, 5) * 2
    a = neuron(x)
    b = neuron(x[:, :2])                                        # another batch size: no shape error
    assert torch.equal(b, a[:, :2]) and torch.equal(neuron(x), a)
