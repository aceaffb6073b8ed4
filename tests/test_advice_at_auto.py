"""diagnose's advice on a network already at "auto"'s gains (issue 16, item 6: a ResNet-18
under "auto" fed randn * 3 + 2 was told to use "auto"): the fix names the input's scale
when it is not standardized, and otherwise what else makes units dead; a network whose
gains are off is still told to use "auto"."""

from __future__ import annotations

import pytest
import torch

import initscope
from initscope.diagnostics.records import LayerStats
from initscope.diagnostics.verdicts import InputScale, judge
from tests.architectures import ResNet18


def _layers(gain_used: float) -> list[LayerStats]:
    """Three ReLU layers, the middle one 60% dead."""
    return [LayerStats(f"fc{i}", "linear", "relu", act_second_moment=1.0, dead=0.6 if i == 1
                       else 0.0, identical_units=0.0, units=64, gain_used=gain_used,
                       gain_auto=2 ** 0.5, input_activation="relu") for i in range(3)]


@pytest.mark.parametrize(("gain", "scale", "says"), [
    (2 ** 0.5, InputScale(2.0, 3.0), "the input is not standardized (mean 2, std 3)"),
    (2 ** 0.5, InputScale(0.0, 1.0), "lsuv(model, batch, center=True)"),
    (2 ** 0.5, None, "lsuv(model, batch, center=True)"),
    (0.5, InputScale(2.0, 3.0), "initscope.initialize(model, 'auto')"),
])
def test_the_dead_units_fix_follows_what_is_off(gain, scale, says):
    dead = next(v for v in judge(_layers(gain), scale) if v.kind == "dead_units")
    assert says in dead.fix
    assert dead.fix.startswith("the weights already have the scale") == (gain > 1)


@pytest.mark.parametrize(("mean", "std", "standardized"), [
    (0.0, 1.0, True), (0.5, 1.0, True), (0.51, 1.0, False), (0.0, 2.0, True),
    (0.0, 2.01, False), (0.0, 0.5, True), (0.0, 0.49, False), (0.5, 0.29, False),
])
def test_what_counts_as_a_standardized_input(mean, std, standardized):
    assert InputScale(mean, std).standardized is standardized


def test_a_resnet_under_auto_fed_a_shifted_input_is_told_to_standardize_it():
    """The issue's case, on the suite's ResNet-18 in eval mode (its norms at their fresh
    running statistics): 43% of layer4.1.bn1's units are dead on randn * 3 + 2."""
    model = ResNet18(num_classes=10)
    initscope.initialize(model, "auto", seed=0)
    model.eval()
    g = torch.Generator().manual_seed(0)
    shifted = torch.randn(8, 3, 32, 32, generator=g) * 3 + 2
    verdicts = initscope.diagnose(model, shifted).verdicts
    dead = next(v for v in verdicts if v.kind == "dead_units")
    assert "the input is not standardized (mean 1.97, std 3.01)" in dead.fix
    for standard in (shifted, torch.randn(8, 3, 32, 32, generator=g)):
        for v in initscope.diagnose(model, standard).verdicts:
            assert v.fix.startswith("the weights already have the scale"), v
