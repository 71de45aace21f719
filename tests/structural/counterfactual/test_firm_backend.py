"""The engine's own pipeline solver and the project's firm's problem (structural.firm) agree."""

from __future__ import annotations

import numpy as np
import pytest

from structural import firm
from structural.counterfactual import Hypothesis, solve_grid
from structural.counterfactual.firm_backend import FIRM_PRICE_FIELDS, FirmTechnology
from structural.counterfactual.model import (
    PIPELINE_DEFAULTS,
    PRICE_FIELDS,
    PipelineTechnology,
    Target,
)

L_13B = 2.0452817884779284  # Chinchilla-optimal 13B loss, Sardana & Frankle constants


def test_firm_backend_matches_the_pipeline_engine_on_sardana_frankle():
    """Same problem both ways: FLOP-priced (1 $/FLOP), no attention, compute-bound decode, every
    token unique (U far above D), no repetition discount."""
    Q = np.array([0.0, 1e10, 2e12])
    sardana = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.336, "beta": 0.283}

    th_f = firm.default_parameters("H100", peak_train=1.0, peak_infer=1.0, u_train=1.0,
                                   u_finetune=1.0, u_prefill=1.0, u_decode=1.0,
                                   price_per_hour=3600.0, price_per_hour_train=3600.0,
                                   bandwidth=1e30, n_layer_d_attn=0.0,
                                   R_D_star=1e12, R_N_star=1e12, ctx_alpha=0.0, **sardana)
    prices_f = {k: np.array([th_f.pop(k)]) for k in FIRM_PRICE_FIELDS}
    base = firm.default_levers(N=13e9, D=5.76e11, U=1e20, c=0.0, x=0.0, y=1.0, k=1.0, r=0.0)
    hyp_f = Hypothesis("heavy", ("N", "D"), {k: v for k, v in base.items() if k not in "ND"})
    sol_f = solve_grid(FirmTechnology(Target("model_loss", L_13B)), [hyp_f],
                       {k: np.array([v]) for k, v in th_f.items()}, prices_f, Q)

    th_p = {k: np.array([v]) for k, v in {**PIPELINE_DEFAULTS, **sardana}.items()}
    prices_p = {k: np.array([1.0]) for k in PRICE_FIELDS}
    for k in ("data_token", "ft_data_token", "cache_hit", "cache_discount"):
        prices_p[k] = np.array([0.0])
    hyp_p = Hypothesis("heavy", ("N", "D"), {"D_F": 0.0, "c": 0.0, "k": 1.0, "U": 1e20})
    sol_p = solve_grid(PipelineTechnology(Target("loss", L_13B), attention=False, unit="flops"),
                       [hyp_p], th_p, prices_p, Q)

    f, p = sol_f.values["heavy"], sol_p.values["heavy"]
    assert np.all(f["status"] == 0) and np.all(p["status"] == 0)
    np.testing.assert_allclose(f["total"], p["total"], rtol=1e-9)
    np.testing.assert_allclose(f["lever_N"], p["lever_N"], rtol=1e-6)
    np.testing.assert_allclose(f["lever_D"], p["lever_D"], rtol=1e-6)
    # Sardana & Frankle's 7B at 2e12 inference tokens, by the firm's solver too.
    assert f["lever_N"][0, 0, 2] == pytest.approx(6.97e9, rel=2e-3)
