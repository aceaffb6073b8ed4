"""initialize and diagnose a Hugging Face LLaMA built from a small config (no weights)."""

import math

import torch
import transformers

import initscope

transformers.logging.set_verbosity_error()
torch.manual_seed(0)
config = transformers.LlamaConfig(
    vocab_size=4000, hidden_size=128, intermediate_size=344, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, attn_implementation="eager")
model = transformers.LlamaForCausalLM(config)
batch = {"input_ids": torch.randint(0, 4000, (4, 64), generator=torch.Generator().manual_seed(1))}

report = initscope.initialize(model, "auto", seed=0, example_inputs=batch)
print(report)

with torch.no_grad():
    logits = model(**batch).logits.double()
loss = float((logits.logsumexp(-1) - logits.mean(-1)).mean())  # E over uniform targets
print(f"\nloss at init {loss:.3f} against ln V = {math.log(4000):.3f}")

d = initscope.diagnose(model, batch, target=batch["input_ids"])
print("verdicts:", [str(v) for v in d.verdicts] or "none")
