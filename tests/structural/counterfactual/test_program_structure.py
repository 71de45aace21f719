"""The two-lever solver's compiled programs are kept small by structure, not by changing the
arithmetic: the path's fixed Newton steps run as a ``fori_loop`` (one copy of the step in the
program) and the Hessian's three second-order directions as one ``vmap``. Each equals the
straight-line code it replaced, on a smooth non-quadratic cost with a kink-free box."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from structural.counterfactual import engine

LO, HI = jnp.asarray([-3.0, -2.0]), jnp.asarray([4.0, 5.0])


def _fv(u):
    """(F, V) of a smooth cost in two log levers, and whether the target is out of reach."""
    F = jnp.exp(1.3 * u[0] - 0.4 * u[1]) + 0.7 * jnp.exp(-0.9 * u[0]) * (1.0 + u[1] ** 2)
    V = jnp.exp(0.5 * u[0] + 0.8 * u[1]) + jnp.log1p(jnp.exp(-u[1]))
    return jnp.stack([F, V]), u[0] > 10.0


def _derivatives2_unbatched(fun, u):
    """The three second-order directions one after the other (the code before the vmap)."""
    eye = jnp.asarray(np.eye(2))

    def second(a, b):
        return engine._second_directional(fun, u, a, b)

    c, g0, h00, out = second(eye[0], eye[0])
    _, g1, h11, _ = second(eye[1], eye[1])
    _, _, h01, _ = second(eye[0], eye[1])
    return c, jnp.stack([g0, g1]), jnp.stack([jnp.stack([h00, h01]), jnp.stack([h01, h11])]), out


def _path_newton2_unrolled(fv, Q, lo, hi, start, iters):
    """The path's Newton steps unrolled in Python (the code before the fori_loop)."""
    weights = jnp.stack([jnp.ones_like(Q), Q])
    x = jnp.clip(start, lo, hi)
    c0 = kkt = tangent = None
    for _ in range(iters):
        c2, g2, H2, out = engine._derivatives2(fv, x, aux=True)
        H, g = H2 @ weights, g2 @ weights
        if c0 is None:
            c = c2 @ weights
            c0 = jnp.where(out | ~jnp.isfinite(c), jnp.inf, c)
        step, _, kkt, finite = engine._newton_steps(x, g, H, lo, hi, engine.PATH2_TOL)
        tangent = engine._tangents(x, g, H, Q * g2[:, 1], lo, hi)
        x = jnp.where(finite, jnp.clip(x + step, lo, hi), x)
    return x, c0, kkt & jnp.isfinite(c0), tangent


STARTS = np.array([[0.3, 0.2], [-1.0, 2.5], [2.0, -1.5], [3.9, 4.9], [-2.9, 0.0]])
QS = np.array([1e-2, 1.0, 3.0, 1e2, 1e4])


def test_vmapped_derivatives_equal_the_three_separate_ones():
    new = jax.jit(jax.vmap(lambda u: engine._derivatives2(_fv, u, aux=True)))(STARTS)
    old = jax.jit(jax.vmap(lambda u: _derivatives2_unbatched(_fv, u)))(STARTS)
    for a, b in zip(new[:3], old[:3], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(np.asarray(new[3]), np.asarray(old[3]))
    # the Hessian is symmetric and its mixed entry is the mixed derivative, by finite differences
    h = 1e-5
    g = jax.vmap(lambda u: engine._derivatives2(_fv, u)[1])
    d = np.array([0.0, h])
    fd = (np.asarray(g(STARTS + d)) - np.asarray(g(STARTS - d)))[:, 0] / (2 * h)
    np.testing.assert_allclose(np.asarray(new[2])[:, 0, 1], fd, rtol=1e-7)


def test_path_newton_steps_in_a_loop_equal_the_unrolled_steps():
    # the path's step count (one count: the loop is the same code for any, and each count
    # compiles both versions again)
    iters = engine.PATH2_ITERATIONS

    def new(q, s):
        return engine._path_newton2(_fv, q, LO, HI, s, iters)

    def old(q, s):
        return _path_newton2_unrolled(_fv, q, LO, HI, s, iters)

    a = jax.jit(jax.vmap(new))(QS, STARTS)
    b = jax.jit(jax.vmap(old))(QS, STARTS)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-13, atol=1e-300)
    # the steps do something: they move the levers, from starts whose cost is finite
    assert np.all(np.isfinite(np.asarray(a[1])))
    assert np.any(np.abs(np.asarray(a[0]) - STARTS) > 1e-3)


def _phi(t):
    """A smooth scalar cost of one log lever with a minimum inside [-3, 4], and ``out``."""
    return jnp.exp(1.1 * t) + 3.0 * jnp.exp(-0.7 * t) + 0.2 * t**2, t > 3.5


def test_newton_final_derivatives_equal_those_after_the_loop():
    # the ridge's certificate reads φ' and φ'' from Newton's own loop (one more pass, no step)
    # instead of differentiating again after it: the same minimiser, iterations and values
    starts = jnp.asarray([-2.0, 0.1, 1.5, 3.0])

    def old(s):
        t, it = engine._newton(_phi, -3.0, 4.0, s)
        d1 = jax.jvp(lambda x: _phi(x)[0], (t,), (jnp.ones_like(t),))[1]
        d2 = jax.jvp(lambda y: jax.jvp(lambda x: _phi(x)[0], (y,), (jnp.ones_like(y),))[1],
                     (t,), (jnp.ones_like(t),))[1]
        return t, it, d1, d2

    a = jax.jit(jax.vmap(lambda s: engine._newton(_phi, -3.0, 4.0, s, final=True)))(starts)
    b = jax.jit(jax.vmap(old))(starts)
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))
    for x, y in zip(a[2:], b[2:], strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-13, atol=1e-300)
    assert np.all(np.abs(np.asarray(a[2])) < 1e-6)   # a minimum: φ' ≈ 0, φ'' > 0
    assert np.all(np.asarray(a[3]) > 0)

