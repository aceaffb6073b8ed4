"""A zoo of Hugging Face ``transformers`` architectures built from small configs (no
weights, no network), with the inputs each takes: what initscope must be right on.

Each entry: name -> (build, inputs, task). ``build()`` constructs the model (its own
initialization runs, drawing from torch's global generator); ``inputs(generator)`` gives
keyword inputs; task is "lm" (logits over the input vocabulary), "cls" (class logits) or
"other". Attention is "eager" where the model has it, so that attention weights can be
read (``output_attentions=True``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

VOCAB = 1000
TOKENS = (4, 32)  # batch, sequence length
IMAGE = (2, 3, 32, 32)

Inputs = Callable[[torch.Generator], dict[str, Any]]


def _quiet() -> Any:
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.getLogger("transformers").setLevel(logging.ERROR)
    return transformers


def _ids(g: torch.Generator) -> dict[str, Any]:
    return {"input_ids": torch.randint(0, VOCAB, TOKENS, generator=g)}


def _seq2seq(g: torch.Generator) -> dict[str, Any]:
    ids = torch.randint(0, VOCAB, TOKENS, generator=g)
    return {"input_ids": ids, "decoder_input_ids": ids.roll(1, 1)}


def _image(g: torch.Generator) -> dict[str, Any]:
    return {"pixel_values": torch.randn(IMAGE, generator=g)}


def _lm(d: int = 64, layers: int = 2, heads: int = 4) -> dict[str, Any]:
    return dict(vocab_size=VOCAB, hidden_size=d, intermediate_size=2 * d,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=2,
                max_position_embeddings=64, attn_implementation="eager")


def _bert() -> Any:
    T = _quiet()
    return T.BertForMaskedLM(T.BertConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=64, attn_implementation="eager"))


def _gpt2() -> Any:
    T = _quiet()
    return T.GPT2LMHeadModel(T.GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=64, n_layer=2, n_head=4,
        bos_token_id=0, eos_token_id=0, attn_implementation="eager"))


def _llama() -> Any:
    T = _quiet()
    return T.LlamaForCausalLM(T.LlamaConfig(**_lm()))


def _qwen2_tied() -> Any:
    T = _quiet()
    return T.Qwen2ForCausalLM(T.Qwen2Config(**_lm(), tie_word_embeddings=True))


def _mixtral() -> Any:
    T = _quiet()
    return T.MixtralForCausalLM(T.MixtralConfig(**_lm(), num_local_experts=4,
                                                num_experts_per_tok=2))


def _t5() -> Any:
    T = _quiet()
    return T.T5ForConditionalGeneration(T.T5Config(
        vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        decoder_start_token_id=0, attn_implementation="eager"))


def _whisper() -> Any:
    T = _quiet()
    return T.WhisperForConditionalGeneration(T.WhisperConfig(
        vocab_size=VOCAB, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
        decoder_ffn_dim=128, num_mel_bins=16, max_source_positions=32,
        max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1, attn_implementation="eager"))


def _whisper_inputs(g: torch.Generator) -> dict[str, Any]:
    ids = torch.randint(0, VOCAB, TOKENS, generator=g)
    return {"input_features": torch.randn(TOKENS[0], 16, 64, generator=g),
            "decoder_input_ids": ids}


def _mamba() -> Any:
    T = _quiet()
    return T.MambaForCausalLM(T.MambaConfig(vocab_size=VOCAB, hidden_size=64, state_size=8,
                                            num_hidden_layers=2, expand=2, conv_kernel=4))


def _vit() -> Any:
    T = _quiet()
    return T.ViTForImageClassification(T.ViTConfig(
        image_size=32, patch_size=8, hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_labels=10,
        attn_implementation="eager"))


def _clip() -> Any:
    T = _quiet()
    text = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=32)
    vision = dict(image_size=32, patch_size=8, hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4)
    return T.CLIPModel(T.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32,
                                    attn_implementation="eager"))


def _clip_inputs(g: torch.Generator) -> dict[str, Any]:
    return {"input_ids": torch.randint(0, VOCAB, (2, 16), generator=g),
            "pixel_values": torch.randn(IMAGE, generator=g)}


def _wav2vec2() -> Any:
    T = _quiet()
    return T.Wav2Vec2ForCTC(T.Wav2Vec2Config(
        vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        attn_implementation="eager"))


def _audio(g: torch.Generator) -> dict[str, Any]:
    return {"input_values": torch.randn(2, 1600, generator=g)}


def _convnext() -> Any:
    T = _quiet()
    return T.ConvNextForImageClassification(T.ConvNextConfig(
        num_channels=3, hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, num_labels=10))


def _resnet() -> Any:
    T = _quiet()
    return T.ResNetForImageClassification(T.ResNetConfig(
        num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
        num_labels=10))


ZOO: dict[str, tuple[Callable[[], nn.Module], Inputs, str]] = {
    "bert": (_bert, _ids, "lm"),
    "gpt2": (_gpt2, _ids, "lm"),
    "llama": (_llama, _ids, "lm"),
    "qwen2_tied": (_qwen2_tied, _ids, "lm"),
    "mixtral": (_mixtral, _ids, "lm"),
    "t5": (_t5, _seq2seq, "lm"),
    "whisper": (_whisper, _whisper_inputs, "lm"),
    "mamba": (_mamba, _ids, "lm"),
    "vit": (_vit, _image, "cls"),
    "clip": (_clip, _clip_inputs, "other"),
    "wav2vec2": (_wav2vec2, _audio, "other"),
    "convnext": (_convnext, _image, "cls"),
    "resnet": (_resnet, _image, "cls"),
}


def build(name: str, torch_seed: int = 0) -> nn.Module:
    """The zoo model ``name``, its own initialization drawn after ``torch.manual_seed``."""
    torch.manual_seed(torch_seed)
    return ZOO[name][0]()


def inputs(name: str, seed: int = 0) -> dict[str, Any]:
    return ZOO[name][1](torch.Generator().manual_seed(seed))


def expected_loss(logits: torch.Tensor) -> float:
    """The cross-entropy at these logits averaged over uniformly random targets, exactly:
    E_y[-log softmax(z)_y] = logsumexp(z) - mean(z), averaged over positions."""
    z = logits.detach().double()
    return float((z.logsumexp(-1) - z.mean(-1)).mean())


def attention_entropy(model: nn.Module, batch: dict[str, Any]) -> float | None:
    """Mean entropy (nats) of the attention rows of every layer that returns them."""
    try:
        with torch.no_grad():
            out = model(**batch, output_attentions=True)
    except (TypeError, ValueError):
        return None
    maps: list[torch.Tensor] = []

    def collect(o: Any) -> None:  # nested outputs too (CLIP's text_ and vision_model_output)
        for k, v in o.items():
            if k.endswith("attentions") and v is not None:
                maps.extend(a for a in v if isinstance(a, torch.Tensor))
            elif hasattr(v, "items"):
                collect(v)

    collect(out)
    if not maps:
        return None
    h = [float(-(a.double().clamp_min(1e-30).log() * a.double()).sum(-1).mean()) for a in maps]
    return sum(h) / len(h)


def logits_of(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    with torch.no_grad():
        out = model(**batch)
    for key in ("logits", "logits_per_image"):
        value = out.get(key) if hasattr(out, "get") else None
        if isinstance(value, torch.Tensor):
            return value
    raise AssertionError(f"no logits in {type(out).__name__}")
