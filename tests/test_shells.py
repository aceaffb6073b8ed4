"""NumPy and JAX shells against each other and against torch; their own behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from initscope import init
from initscope import numpy as inp

jax = pytest.importorskip("jax")
jnp = jax.numpy
from initscope import jax as ijax  # noqa: E402

SHAPE = (384, 256)
KS_ALPHA = 1e-6


def _torch(fn):
    t = torch.empty(SHAPE)
    fn(t, torch.Generator().manual_seed(0))
    return t.numpy().ravel()


PAIRS = {
    "xavier_uniform": (lambda t, g: init.xavier_uniform_(t, generator=g),
                       inp.xavier_uniform, ijax.xavier_uniform(fans="torch")),
    "he_normal_gelu": (lambda t, g: init.he_normal_(t, "gelu", g),
                       lambda r, s: inp.he_normal(r, s, activation="gelu"),
                       ijax.he_normal("gelu", fans="torch")),
    "variance_scaling_trunc": (
        lambda t, g: init.variance_scaling_(t, 2.0, "fan_out", generator=g),
        lambda r, s: inp.variance_scaling(r, s, scale=2.0, mode="fan_out"),
        ijax.variance_scaling(2.0, "fan_out", fans="torch")),
    "lecun_uniform": (lambda t, g: init.lecun_uniform_(t, g), inp.lecun_uniform,
                      ijax.lecun_uniform(fans="torch")),
    "glorot_standard": (lambda t, g: init.glorot_standard_(t, g), inp.glorot_standard,
                        ijax.glorot_standard(fans="torch")),
}


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_three_backends_agree_in_distribution(case):
    t_fn, np_fn, jax_init = PAIRS[case]
    a = _torch(t_fn)
    b = np_fn(np.random.default_rng(0), SHAPE).ravel()
    c = np.asarray(jax_init(jax.random.key(0), SHAPE)).ravel()
    for x, y in ((a, b), (a, c), (b, c)):
        assert stats.ks_2samp(x, y).pvalue > KS_ALPHA
        assert x.var() == pytest.approx(y.var(), rel=0.03)  # SE of a ratio at n=98k: 0.6%


def test_jax_default_layout_is_flax_kernel():
    """A Flax Dense kernel is (in, out): fan_in is shape[-2]."""
    w = ijax.lecun_normal()(jax.random.key(1), (1024, 64))
    assert float(jnp.var(w)) == pytest.approx(1 / 1024, rel=0.03)
    conv = ijax.he_normal()(jax.random.key(1), (3, 3, 64, 128))  # (*k, in, out)
    assert float(jnp.var(conv)) == pytest.approx(2 / (9 * 64), rel=0.03)


def test_jax_initializer_is_jittable_and_validates_early():
    init_fn = ijax.xavier_normal("tanh")
    w = jax.jit(init_fn, static_argnums=(1, 2))(jax.random.key(0), (64, 32), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="unknown mode"):
        ijax.he_normal(mode="fan_all")  # at construction, not at first call
    with pytest.raises(ValueError, match="unknown activation"):
        ijax.he_normal("relux")
    with pytest.raises(ValueError, match="fans are not defined"):
        init_fn(jax.random.key(0), (5,))
    with pytest.raises(TypeError, match="floating"):
        init_fn(jax.random.key(0), (5, 5), jnp.int32)


def test_jax_orthogonal():
    w = ijax.orthogonal(2.0)(jax.random.key(0), (3, 3, 16, 64))
    m = np.asarray(w).reshape(-1, 64)
    np.testing.assert_allclose(m.T @ m, 4 * np.eye(64), atol=1e-4)
    wide = np.asarray(ijax.orthogonal()(jax.random.key(0), (8, 32)))
    np.testing.assert_allclose(wide @ wide.T, np.eye(8), atol=1e-5)


def test_numpy_shell_behaviour():
    a = inp.he_uniform(7, (30, 20), np.float64)
    b = inp.he_uniform(np.random.default_rng(7), (30, 20), np.float64)
    np.testing.assert_array_equal(a, b)
    o = inp.orthogonal(0, (20, 50), gain=1.5)
    np.testing.assert_allclose(o @ o.T, 2.25 * np.eye(20), atol=1e-5)
    with pytest.raises(TypeError, match="floating"):
        inp.xavier_uniform(0, (4, 4), np.int32)
    with pytest.raises(TypeError, match="Generator or an int seed"):
        inp.xavier_uniform("seed", (4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gain must be a positive finite number"):
        inp.xavier_uniform(0, (4, 4), gain=-1.0)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        inp.lecun_normal(0, (4,))


def test_flax_kernel_init():
    """The initializers plug into real Flax modules (linen and nnx) as kernel_init=."""
    linen = pytest.importorskip("flax.linen")
    nnx = pytest.importorskip("flax.nnx")
    dense = linen.Dense(256, kernel_init=ijax.he_normal("gelu"))
    k = dense.init(jax.random.key(0), jnp.ones((1, 1024)))["params"]["kernel"]
    assert k.shape == (1024, 256)
    from initscope import gain

    assert float(jnp.var(k)) * 1024 == pytest.approx(gain("gelu") ** 2, rel=0.03)
    conv = linen.Conv(64, (3, 3), kernel_init=ijax.xavier_uniform())
    k = conv.init(jax.random.key(0), jnp.ones((1, 8, 8, 32)))["params"]["kernel"]
    assert k.shape == (3, 3, 32, 64)
    bound = (6 / (9 * 32 + 9 * 64)) ** 0.5
    assert float(jnp.abs(k).max()) <= bound and float(jnp.abs(k).max()) > 0.9 * bound
    lin = nnx.Linear(512, 128, kernel_init=ijax.lecun_normal(), rngs=nnx.Rngs(0))
    assert float(jnp.var(lin.kernel.get_value())) * 512 == pytest.approx(1.0, rel=0.03)
