"""The solver's pools in several host threads must not deadlock XLA's intra-op pool.

jaxlib's batched LAPACK kernels (a vmapped eigh or Cholesky) split a large batch over XLA's
intra-op workers and block the worker that called them; two host threads each running such a
kernel on a two-core machine left no worker to run the pieces, and the process hung (400
bootstrap replicates of the loss-to-success link over two pools). The solver's round now runs
its LAPACK kernels one member per call under vmap (``solver.one_at_a_time``). The check runs in
a subprocess with a watchdog (``--runslow``: about a minute), so a regression fails there
instead of hanging the suite: with ``jnp.linalg.eigh`` in place of ``solver._eigh`` the same
script stalls (64 matrices of size 40 in two threads, jaxlib 0.10: seen after 10 to 20 rounds).
By default the traced step is checked for batched kernels instead.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from estimation import solver

_SCRIPT = textwrap.dedent("""
    import os, threading, time
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from estimation import solver

    def one(H, b):
        w, V = solver._eigh(H)
        A = (V * (jnp.abs(w) + 1.0)) @ V.T
        return V @ jnp.diag(1.0 / (jnp.abs(w) + 1.0)) @ V.T + 0.1 * H, solver._psd_solve(A, b)

    @jax.jit
    def rnd(H, b):
        return jax.lax.fori_loop(0, 20, lambda _, c: jax.vmap(one)(*c), (H, b))

    rng = np.random.default_rng(0)
    A = rng.normal(size=(64, 40, 40))
    H0, b0 = A + np.swapaxes(A, 1, 2), rng.normal(size=(64, 40))
    jax.block_until_ready(rnd(H0, b0))
    done = [0, 0]
    ROUNDS = 30

    def work(j):
        for _ in range(ROUNDS):
            jax.block_until_ready(rnd(H0, b0))
            done[j] += 1

    threads = [threading.Thread(target=work, args=(j,), daemon=True) for j in range(2)]
    for t in threads:
        t.start()
    last, since = list(done), time.time()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if done != last:
            last, since = list(done), time.time()
        elif time.time() - since > 60:
            print("stalled at", done, flush=True)
            os._exit(3)
    print("done", done, flush=True)
""")


def _primitives(jaxpr, depth=0):
    """(primitive name, operand shapes, nesting depth) of every equation, sub-jaxprs included."""
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name, [tuple(v.aval.shape) for v in eqn.invars], depth
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _primitives(sub, depth + 1)


def test_the_rounds_lapack_kernels_see_one_member_per_call():
    """Deterministic guard: under vmap the eigh and Cholesky of the solver's step take one
    (k, k) matrix each, inside a loop over members (never a (P, k, k) batch)."""
    H = jnp.asarray(np.tile(np.eye(3) * 2.0, (8, 1, 1)))
    g = jnp.ones((8, 3))
    mu = jnp.full(8, 1e-3)
    eig = jax.make_jaxpr(jax.vmap(solver._eig_scaled))(H)
    psd = jax.make_jaxpr(jax.vmap(solver._direction_psd))(H, g, mu)
    for jaxpr, kernels in ((eig, {"eigh"}), (psd, {"cholesky"})):
        found = [(name, shapes) for name, shapes, _ in _primitives(jaxpr.jaxpr)
                 if name in kernels]
        assert found, f"no {kernels} in the traced step"
        assert all(shapes[0] == (3, 3) for _, shapes in found), found


@pytest.mark.slow
def test_two_threads_of_vmapped_lapack_do_not_deadlock():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "done [30, 30]" in proc.stdout


def test_one_at_a_time_equals_the_batched_kernels():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 6, 6))
    H = A + np.swapaxes(A, 1, 2)
    ev, V = jax.jit(jax.vmap(solver._eigh))(H)
    ev0, V0 = jnp.linalg.eigh(H)
    np.testing.assert_allclose(ev, ev0, rtol=1e-12, atol=1e-12)
    # eigenvectors up to sign
    np.testing.assert_allclose(np.abs(np.einsum("bij,bij->bj", V, V0)), 1.0, atol=1e-10)
    P = A @ np.swapaxes(A, 1, 2) + 6.0 * np.eye(6)
    b = rng.normal(size=(5, 6))
    x = jax.vmap(solver._psd_solve, in_axes=(0, None))(P, b[0])   # an unbatched argument
    np.testing.assert_allclose(x, np.linalg.solve(P, b[0]), rtol=1e-10)
    x = jax.vmap(jax.vmap(solver._psd_solve))(P[None], b[None])  # nested vmap
    np.testing.assert_allclose(x[0], np.linalg.solve(P, b[..., None])[..., 0], rtol=1e-10)
