"""Named schemes as specialisations of :class:`VarianceScaling`.

Each line cites where the scheme comes from; none computes its own std. The builders
are pure and cached (a rule is immutable), so building one per call costs nothing.
"""

from __future__ import annotations

import math

from ._cache import memo
from .scaling import Distribution, Mode, VarianceScaling


@memo(256)
def xavier(gain: float = 1.0, distribution: Distribution = "uniform") -> VarianceScaling:
    """Glorot & Bengio 2010 ("normalized" init, eq. 16): Var = gain^2 * 2 / (fan_in + fan_out)."""
    return VarianceScaling(gain * gain, "fan_avg", distribution)  # (inf, not OverflowError)


@memo(256)
def he(
    gain: float = 2.0**0.5, mode: Mode = "fan_in", distribution: Distribution = "normal"
) -> VarianceScaling:
    """He et al. 2015, eq. 10 (fan_in) / eq. 14 (fan_out): Var = gain^2 / fan."""
    return VarianceScaling(gain * gain, mode, distribution)


@memo(256)
def lecun(distribution: Distribution = "truncated_normal") -> VarianceScaling:
    """LeCun et al. 1998, "Efficient BackProp" sec. 4.6: Var = 1 / fan_in."""
    return VarianceScaling(1.0, "fan_in", distribution)


@memo(256)
def glorot_standard() -> VarianceScaling:
    """Glorot & Bengio 2010's "standard" U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (eq. 1).

    Var = 1 / (3 fan_in). It is also what ``nn.Linear`` and ``nn.Conv*d`` do by default
    (``kaiming_uniform_(a=sqrt(5))``: gain^2 = 2 / (1 + 5) = 1/3).
    """
    return VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


#: torch's default for nn.Linear / nn.Conv*d weights is Glorot's standard init.
torch_default = glorot_standard


#: The readout's share of the loss at init: logits start with std sqrt(2 READOUT_EXCESS ln V),
#: so the expected cross-entropy exceeds ln V (no preference) by READOUT_EXCESS ln V.
READOUT_EXCESS = 0.01


def readout(vocab: int, input_gain: float = 1.0, mode: Mode = "fan_in",
            distribution: Distribution = "uniform") -> VarianceScaling:
    """An output head over ``vocab`` classes whose logits start without preference.

    For logits z_i ~ N(0, s^2) over V classes, E[CE] = E[log sum_i exp(z_i)] - E[z_y]
    -> ln V + s^2 / 2 as V grows (E[exp z] = exp(s^2 / 2); the loss at init should be
    ln V, Karpathy 2019, "A Recipe for Training Neural Networks"). With s^2 = 2 eps ln V,
    eps = READOUT_EXCESS, the head costs 1% of ln V at init. Its input after "auto" has
    E[h^2] = 1 / input_gain^2 (1 after a norm), so Var[w] = 2 eps ln V input_gain^2 / fan_in:
    small like the readout of muP (Yang & Hu 2021), and the one std a tied input/output
    matrix can have (``mode="fan_out"`` on the (V, d) embedding: its fan_out is d).

    >>> round(readout(1000).draw(__import__("initscope").Fans(64, 1000, 1)).std, 4)
    0.0465
    """
    if not (isinstance(vocab, int) and vocab >= 2):
        raise ValueError(f"readout needs a vocabulary of at least 2 classes; got {vocab!r}")
    return VarianceScaling(2.0 * READOUT_EXCESS * math.log(vocab) * input_gain * input_gain,
                           mode, distribution)


# --- the fixed rules and the recipes' factors: the only std arithmetic outside the
# variance-scaling formula, each a pure function of its paper's quantities -------------


def uniform_std(a: float, b: float) -> float:
    """Std of U(a, b): (b - a) / sqrt(12).

    >>> round(uniform_std(-1.0, 1.0), 6)
    0.57735
    """
    return (b - a) / math.sqrt(12)


def orthogonal_std(rows: int, cols: int, gain: float = 1.0) -> float:
    """Element std of ``gain`` x a (semi-)orthogonal rows x cols matrix: its orthonormal
    rows (rows <= cols) or columns have unit norm over max(rows, cols) entries, so
    E[w^2] = gain^2 / max(rows, cols) (Saxe et al. 2014).

    >>> orthogonal_std(64, 256)
    0.0625
    """
    return gain / math.sqrt(max(rows, cols))


def looks_linear_std(fan_in: int, gain: float = 1.0) -> float:
    """Element std of a looks-linear weight (Balduzzi et al. 2017) whose orthogonal block
    reads ``fan_in`` inputs (half the layer's when its input is mirrored, times the
    kernel): every unit keeps its second moment, so E[w^2] = gain^2 / fan_in, whichever
    of the block's rows or columns are orthonormal (see ``init.looks_linear_``).

    >>> looks_linear_std(256)
    0.0625
    """
    return gain / math.sqrt(fan_in)


def chain_growth(slope: float, links: int) -> float:
    """How much a deviation of the second moment grows along a chain of ``links``
    activations whose length map has ``slope`` at its fixed point: slope^links.

    >>> round(chain_growth(1.144, 6), 2)
    2.24
    """
    return slope ** links


#: A chain is called unstable when a deviation at least doubles along it.
DOUBLING = 2.0


def deviation_doubles(slope: float, links: int) -> bool:
    """Whether a length map of ``slope`` at its fixed point expands (slope > 1) enough
    that a deviation doubles along ``links`` activations: chain_growth >= DOUBLING (GELU,
    slope 1.144, from 6 links; SiLU 5, Mish 10, Hardswish 4).

    >>> deviation_doubles(1.144, 6), deviation_doubles(1.144, 5), deviation_doubles(1.0, 99)
    (True, False, False)
    """
    return slope > 1.0 + 1e-6 and chain_growth(slope, links) >= DOUBLING


def critical(sigma_w2: float, sigma_b2: float) -> tuple[VarianceScaling, float, float]:
    """The edge-of-chaos draw (Schoenholz et al. 2017, eq. 1's convention): weights
    N(0, sigma_w2 / fan_in), biases N(0, sigma_b2). Returns the weights' rule, their gain
    sqrt(sigma_w2) and the biases' std sqrt(sigma_b2).

    >>> rule, gain, bias_std = critical(2.0, 0.25)
    >>> rule.scale, round(gain, 6), bias_std
    (2.0, 1.414214, 0.5)
    """
    return VarianceScaling(sigma_w2, "fan_in", "normal"), math.sqrt(sigma_w2), \
        math.sqrt(sigma_b2)


def gpt2_branch_std(branches: int, std: float = 0.02) -> float:
    """Radford et al. 2019 (GPT-2, sec. 2.3) and nanoGPT: the layer ending each residual
    branch N(0, std / sqrt(L)), L residual branches (2 per block).

    >>> gpt2_branch_std(4)
    0.01
    """
    return std / math.sqrt(max(1, branches))


def fixup_factor(branches: int, depth: int) -> float:
    """Zhang et al. 2019 (Fixup, sec. 3): in a branch of m weight layers, the first m - 1
    are scaled by L^(-1/(2m-2)), L residual branches (the last is zeroed); 1 for m = 1.

    >>> fixup_factor(16, 2)
    0.25
    """
    return float(float(branches) ** (-1.0 / (2 * depth - 2))) if depth > 1 else 1.0


def t_fixup_factor(blocks: int) -> float:
    """Huang et al. 2020 (T-Fixup, Alg. 1, encoder): value, attention-output and MLP
    weights scaled by 0.67 N^(-1/4), N blocks.

    >>> round(t_fixup_factor(16), 4)
    0.335
    """
    return float(0.67 * float(blocks) ** -0.25)


def deepnorm_beta(blocks: int) -> float:
    """Wang et al. 2022 (DeepNet, encoder): beta = (8N)^(-1/4), N blocks.

    >>> deepnorm_beta(2)
    0.5
    """
    return float((8.0 * blocks) ** -0.25)


def embedding_std(dim: int) -> float:
    """Huang et al. 2020 (T-Fixup, Alg. 1): input embeddings N(0, d^-1/2), read as the
    std (the paper's N(0, .) notation), d the embedding width.

    >>> embedding_std(64)
    0.125
    """
    return float(float(dim) ** -0.5)


def deepnorm_betas_encoder_decoder(encoder_blocks: int, decoder_blocks: int) -> tuple[float, float]:
    """Wang et al. 2022 (DeepNet, Table 1, encoder-decoder): encoder beta =
    0.87 (N^4 M)^(-1/16), decoder beta = (12 M)^(-1/4), N encoder and M decoder blocks.

    >>> [round(b, 4) for b in deepnorm_betas_encoder_decoder(6, 6)]
    [0.497, 0.3433]
    """
    n, m = float(encoder_blocks), float(decoder_blocks)
    return float(0.87 * (n**4 * m) ** (-1 / 16)), float((12.0 * m) ** -0.25)


def t_fixup_factors_encoder_decoder(encoder_blocks: int,
                                    decoder_blocks: int) -> tuple[float, float]:
    """Huang et al. 2020 (T-Fixup, Alg. 1, encoder-decoder): encoder weights scaled by
    0.67 N^(-1/4), decoder weights by (9 M)^(-1/4).

    >>> [round(f, 4) for f in t_fixup_factors_encoder_decoder(6, 6)]
    [0.4281, 0.3689]
    """
    return t_fixup_factor(encoder_blocks), float((9.0 * decoder_blocks) ** -0.25)
