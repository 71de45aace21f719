"""Reproduction: Sardana & Frankle (2023), inference-aware optimum via the firm's solver."""

from __future__ import annotations

import papers


def test_reproduction_passes(tmp_path):
    rep = papers.get("sardana2023").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()
    table = rep.table
    small = table.loc["inference-aware optimum (firm.solve)"]
    chinchilla = table.loc["13B Chinchilla-optimal"]
    # the inference-aware model is smaller, trained longer, and cheaper over its life
    assert small["N"] < chinchilla["N"]
    assert small["D_train"] > chinchilla["D_train"]
    assert small["lifetime FLOPs"] < chinchilla["lifetime FLOPs"]
    assert abs(small["loss"] - chinchilla["loss"]) < 1e-10


def test_kept_programs_equal_the_formulas_operation_by_operation():
    """The worked example's closed forms, run as one kept program, give the public helpers'
    numbers (each formula run operation by operation) to rounding."""
    import numpy as np

    from papers import sardana2023 as s

    ex = s._kept(s._example, "test example")(np.float64(s.N_CHINCHILLA), np.float64(s.N_SMALL))
    ell = s.loss(s.N_CHINCHILLA, float(ex["D13"]))
    np.testing.assert_allclose(float(ex["ell"]), ell, rtol=1e-14)
    np.testing.assert_allclose(float(ex["D7"]), s.tokens_for_loss(s.N_SMALL, ell), rtol=1e-12)
    np.testing.assert_allclose(float(ex["loss7"]), ell, rtol=1e-12)
    at = s._kept(s._at_optimum, "test optimum")(np.float64(7e9), np.float64(5e11))
    np.testing.assert_allclose(float(at["loss"]), s.loss(7e9, 5e11), rtol=1e-14)
    # ε_N = αA N^-α / (L − E), the derivative of ln(L − E) written out
    excess = s.A * 7e9 ** -s.ALPHA + s.B * 5e11 ** -s.BETA
    np.testing.assert_allclose(float(at["eN"]), s.ALPHA * s.A * 7e9 ** -s.ALPHA / excess,
                               rtol=1e-13)


def test_a_second_process_compiles_none_of_the_kept_programs(second_process):

    code = ("import json\nfrom papers import sardana2023 as s\n"
            "from estimation.compilation import compile_stats, traced_programs\n"
            "import numpy as np\n"
            "s._kept(s._example, 'sardana2023 worked example')(np.float64(13e9), np.float64(7e9))\n"
            "n = s._direct_optimum(2.0)\n"
            "print(json.dumps({'n': n, 'compiled': compile_stats().compiled, "
            "'traced': traced_programs()}))")
    first, second = second_process(code)
    assert first["traced"]["written"] == 2 and first["compiled"] >= 2
    assert second["traced"]["loaded"] == 2 and second["compiled"] == 0
    assert second["n"] == first["n"]
