"""Inputs as users of Hugging Face models give them (issue 16, item 5): a dict of keyword
inputs for initialize, diagnose and lsuv; dict-like outputs; language-model logits
(B, T, V) against targets (B, T)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initscope
from initscope._inputs import as_inputs, classification_loss, main_output


class KeywordLM(nn.Module):
    """A model that takes keyword inputs only (as HF models do) and returns a dict."""

    def __init__(self, vocab: int = 50, d: int = 32) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.fc = nn.Linear(d, d)
        self.act = nn.Tanh()
        self.head = nn.Linear(d, vocab)

    def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        h = self.act(self.fc(self.wte(input_ids)))
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return {"hidden": h, "logits": self.head(h)}


def _ids(vocab: int = 50) -> torch.Tensor:
    return torch.randint(0, vocab, (4, 12), generator=torch.Generator().manual_seed(0))


def test_initialize_traces_a_model_called_with_keyword_inputs():
    ids = _ids()
    model = KeywordLM()
    report = initialize_kw(model, {"input_ids": ids, "attention_mask": torch.ones(4, 12)})
    assert all(r.covered for r in report.records)
    graph = {i.name: i for i in report.graph}
    assert graph["wte"].input_source == "input" and graph["head"].output_consumer == "output"


def initialize_kw(model, inputs):
    return initscope.initialize(model, "auto", seed=0, example_inputs=inputs)


def test_diagnose_takes_keyword_inputs_and_lm_targets():
    ids = _ids()
    model = KeywordLM()
    initialize_kw(model, {"input_ids": ids})
    d = initscope.diagnose(model, {"input_ids": ids}, target=ids)
    with torch.no_grad():
        logits = model(input_ids=ids)["logits"]
    want = nn.functional.cross_entropy(logits.reshape(-1, 50), ids.reshape(-1))
    assert d.loss == pytest.approx(float(want), rel=1e-6)  # the logits, not "hidden"
    assert {s.name for s in d.layers} >= {"fc", "head"}


def test_lsuv_takes_a_keyword_batch():
    ids = _ids()
    model = KeywordLM()
    report = initscope.lsuv(model, {"input_ids": ids}, seed=0)
    assert {r.name for r in report.records} == {"fc", "head"}
    assert all(abs(r.std_after - 1) < 0.05 for r in report.records)


def test_mapping_keys_must_be_strings():
    with pytest.raises(TypeError, match="string keys; got 0"):
        as_inputs({0: torch.zeros(1)})


def test_main_output_prefers_logits_then_the_first_float_tensor():
    a, b = torch.zeros(2), torch.ones(3)
    assert main_output({"hidden": a, "logits": b}) is b
    assert main_output((torch.zeros(2, dtype=torch.long), a)) is a
    assert main_output({"ids": torch.zeros(1, dtype=torch.long)}) is None


@pytest.mark.parametrize("out_shape,target_shape", [
    ((6, 5), (6,)),  # (N, C)
    ((2, 5, 3, 4), (2, 3, 4)),  # (N, C, H, W): torch's class axis
    ((2, 7, 5), (2, 7)),  # (B, T, V): a language model's
])
def test_classification_loss_finds_the_class_axis(out_shape, target_shape):
    g = torch.Generator().manual_seed(0)
    out = torch.randn(out_shape, generator=g)
    classes = out_shape[1] if len(out_shape) != 3 else out_shape[-1]
    target = torch.randint(0, classes, target_shape, generator=g)
    got = float(classification_loss(out, target))
    flat = out.movedim(1, -1) if len(out_shape) == 4 else out
    want = float(nn.functional.cross_entropy(flat.reshape(-1, classes), target.reshape(-1)))
    assert got == pytest.approx(want, rel=1e-6)
    assert math.isfinite(got)


def test_classification_loss_names_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"shape \(3,\) do not fit scores of shape \(2, 5\)"):
        classification_loss(torch.zeros(2, 5), torch.zeros(3, dtype=torch.long))
