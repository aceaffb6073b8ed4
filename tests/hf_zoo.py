"""The zoo of Hugging Face architectures the tests run on: it lives with the real-models
reproduction (``initscope.reproduce._hf_zoo``), which trains the same models."""

from initscope.reproduce._hf_zoo import (  # noqa: F401
    IMAGE,
    TOKENS,
    VOCAB,
    ZOO,
    attention_entropy,
    build,
    expected_loss,
    inputs,
    logits_of,
)
