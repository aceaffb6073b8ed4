"""initialize(model, "auto") on a Hugging Face LLaMA of ~130M parameters, built from its
config, against the model's own initialization pass, in one run.

Writes benchmarks/results/real_models.md (linked from the README). The alternative is what
transformers itself does to initialize the model: ``_init_weights`` over every module,
children first (``initialize_weights``' smart apply; run here with the
``_is_hf_initialized`` flags lifted, since transformers 5 skips flagged modules).
initscope's call traces the model once (torch.fx cannot trace it), reads the model's own
init (it keeps the hidden weights' scale), draws the readout, and audits every parameter;
"graph given" passes ``graph=`` from an earlier ``layer_graph``.

    .venv/bin/python benchmarks/bench_real_models.py            # full
    .venv/bin/python benchmarks/bench_real_models.py --quick    # a small LLaMA, prints only
"""

from __future__ import annotations

import argparse
import platform
import warnings
from pathlib import Path

import torch

import initscope
from _common import interleaved_medians, write_table  # benchmarks/_common.py
from initscope.model._own import _flags_lifted, _postorder, hf_owners

OUT = Path(__file__).resolve().parent / "results" / "real_models.md"


def own_init(model: torch.nn.Module) -> None:
    """transformers' own pass: each module's _init_weights by its nearest PreTrainedModel,
    children first."""
    owners = hf_owners(model)
    with torch.no_grad(), _flags_lifted(model):
        for name, module in _postorder(model):
            if name in owners:
                owners[name]._init_weights(module)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    if args.quick:
        config = transformers.LlamaConfig(vocab_size=4000, hidden_size=128,
                                          intermediate_size=344, num_hidden_layers=2,
                                          num_attention_heads=4)
        repeats = 2
    else:  # ~134M parameters
        config = transformers.LlamaConfig(vocab_size=32000, hidden_size=768,
                                          intermediate_size=2048, num_hidden_layers=12,
                                          num_attention_heads=12)
        repeats = 9
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    n = sum(p.numel() for p in model.parameters())
    batch = {"input_ids": torch.randint(0, config.vocab_size, (1, 16))}
    graph = initscope.layer_graph(model, batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own, traced, given, trace = interleaved_medians([
            lambda: own_init(model),
            lambda: initscope.initialize(model, "auto", seed=0, example_inputs=batch),
            lambda: initscope.initialize(model, "auto", seed=0, graph=graph),
            lambda: initscope.layer_graph(model, batch),
        ], repeats)
    lines = [
        "# initialize(model, \"auto\") on a Hugging Face LLaMA",
        "",
        f"LLaMA from its config, {n / 1e6:.0f}M parameters, float32, on "
        f"{torch.get_num_threads()} threads ({platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}); median of {repeats} interleaved runs "
        "(`.venv/bin/python benchmarks/bench_real_models.py`).",
        "",
        "| call | seconds | against the model's own pass |",
        "|---|---:|---:|",
        f"| transformers' own `_init_weights` pass | {own:.3f} | 1.00x |",
        f"| `initialize(model, \"auto\", example_inputs=...)` | {traced:.3f} | "
        f"{traced / own:.2f}x |",
        f"| `initialize(model, \"auto\", graph=...)` | {given:.3f} | {given / own:.2f}x |",
        f"| `layer_graph(model, batch)` (the trace alone: one forward pass) | {trace:.3f} | "
        f"{trace / own:.2f}x |",
        "",
        "With the graph given, `initialize` reruns the model's own pass into NaN-filled "
        "tensors of its own (so the model is unchanged until every value exists, and a "
        "parameter the pass leaves unset is known), its random fills drawn by the "
        "parameters' counter streams (on two threads; torch's generator is serial), reads "
        "each tensor's moments off the draws, draws the readout, and copies the values in. "
        "The trace is one forward pass of the example batch with hooks (torch.fx cannot "
        "trace Hugging Face models).",
    ]
    print("\n".join(lines))
    if not args.quick:
        write_table(OUT, lines)


if __name__ == "__main__":
    main()
