"""Published constant sets: each a named object carrying its source.

Every published constant the model uses lives here (the laws live in their own modules, see the
README's layout table); scenarios, the firm's defaults and the paper reproductions import them
from here, so a constant is typed once.

Chinchilla L(N, D) = E + A/N^α + B/D^β (:func:`structural.pretraining.chinchilla_loss`):

* :data:`HOFFMANN_2022` — Hoffmann et al. (2022), arXiv:2203.15556, eq. (10) / §3.3, as printed
  (exponents rounded to two digits): A = 406.4, B = 410.7, E = 1.69, α = 0.34, β = 0.28;
* :data:`HOFFMANN_2022_TEX` — the same fit with the unrounded exponents of the paper's TeX source,
  α = 0.33917084, β = 0.2849083 (as used in Besiroglu et al.'s notebook, ``true_params``);
* :data:`SARDANA_2023` — Sardana & Frankle (2023), arXiv:2401.00448, §2: A = 406.4, B = 410.7,
  E = 1.69, α = 0.336, β = 0.283 (the exponents quoted to three decimals);
* :data:`BESIROGLU_2024` — Besiroglu et al. (2024), arXiv:2404.10102, Table 1: A = 482.01,
  B = 2085.43, E = 1.8172, α = 0.3478, β = 0.3658 (bootstrap SEs 124.52, 1293.28, 0.0257, 0.0154,
  0.0206). The project refits this itself (:mod:`structural.chinchilla_fit`); the published
  numbers are the check.

Other laws: :data:`MUENNIGHOFF_2023` (repeated data, datablations README "Parametric Fit"),
:data:`HERNANDEZ_2021` (transfer, arXiv:2102.01293, Table 1/Fig. 1; fitted in *characters*).

Examples
--------
>>> from structural.published import CHINCHILLA, HOFFMANN_2022, BESIROGLU_2024
>>> sorted(CHINCHILLA)
['besiroglu2024', 'hoffmann2022', 'hoffmann2022_tex', 'sardana2023']
>>> HOFFMANN_2022["alpha"], BESIROGLU_2024.se["alpha"]
(0.34, 0.0154)
>>> from structural.published import MUENNIGHOFF_2023, HERNANDEZ_2021, SARDANA_2023
>>> MUENNIGHOFF_2023["R_D_star"], SARDANA_2023["beta"]
(15.387756, 0.283)
>>> sorted(HERNANDEZ_2021), HERNANDEZ_2021["text->python"].unit
(['text+code->python', 'text->python'], 'characters')
>>> from structural.published import HOFFMANN_2022_TEX
>>> HOFFMANN_2022_TEX["alpha"]
0.33917084
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["BESIROGLU_2024", "CHINCHILLA", "HERNANDEZ_2021", "HOFFMANN_2022", "HOFFMANN_2022_TEX",
           "MUENNIGHOFF_2023", "SARDANA_2023", "ConstantSet"]


@dataclass(frozen=True)
class ConstantSet(Mapping):
    """A named set of published constants with its source; reads like a dict.

    Examples
    --------
    >>> from structural.published import ConstantSet
    >>> law = ConstantSet("mine", {"A": 400.0, "alpha": 0.3}, "my fit, 2025")
    >>> law["A"], len(law), law.as_dict()
    (400.0, 2, {'A': 400.0, 'alpha': 0.3})
    >>> from structural.published import HOFFMANN_2022
    >>> HOFFMANN_2022.source
    'Hoffmann et al. (2022), arXiv:2203.15556, eq. (10), §3.3 (as printed)'
    """

    name: str
    constants: Mapping[str, float]
    source: str
    se: Mapping[str, float] = field(default_factory=dict)
    unit: str = ""
    #: How the constants were checked at their source (or why they could not be).
    checked: str = ""

    def __getitem__(self, key: str) -> float:
        return self.constants[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.constants)

    def __len__(self) -> int:
        return len(self.constants)

    def as_dict(self) -> dict[str, float]:
        return dict(self.constants)


HOFFMANN_2022 = ConstantSet(
    "hoffmann2022", {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28},
    "Hoffmann et al. (2022), arXiv:2203.15556, eq. (10), §3.3 (as printed)")
HOFFMANN_2022_TEX = ConstantSet(
    "hoffmann2022_tex",
    {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.33917084, "beta": 0.2849083},
    "Hoffmann et al. (2022), Approach 3, unrounded exponents of the TeX source "
    "(Besiroglu et al. 2024 notebook, true_params)")
SARDANA_2023 = ConstantSet(
    "sardana2023", {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.336, "beta": 0.283},
    "Sardana & Frankle (2023), arXiv:2401.00448, §2",
    checked="the three-decimal exponents could not be re-read from the paper here; the check is "
            "the reproduction of its Fig. 1 example (1.69e22 FLOPs, 17.4%), which they give")
BESIROGLU_2024 = ConstantSet(
    "besiroglu2024", {"A": 482.01, "B": 2085.43, "E": 1.8172, "alpha": 0.3478, "beta": 0.3658},
    "Besiroglu et al. (2024), arXiv:2404.10102, Table 1",
    se={"A": 124.52, "B": 1293.28, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206},
    checked="reproduced from the bundled runs by `llmecon reproduce besiroglu2024`")

#: Chinchilla constant sets by name (what a scenario's ``preset`` may name).
CHINCHILLA: dict[str, ConstantSet] = {
    s.name: s for s in (HOFFMANN_2022, HOFFMANN_2022_TEX, SARDANA_2023, BESIROGLU_2024)}

MUENNIGHOFF_2023 = ConstantSet(
    "muennighoff2023",
    {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596,
     "R_D_star": 15.387756, "R_N_star": 5.309743},
    "Muennighoff et al. (2023), arXiv:2305.16264, eqs. 5-7; datablations README, Parametric Fit "
    "(a, b, e are ln A, ln B, ln E)",
    checked="the README's worked example L(6.34e9, 242e9, 25e9) = 2.2256 is reproduced "
            "(`llmecon reproduce muennighoff2023`)")

#: Hernandez et al. (2021) transfer fits D_T = k D_F^α_T N^β_T, source → (k, α_T, β_T).
HERNANDEZ_2021: dict[str, ConstantSet] = {
    "text->python": ConstantSet(
        "hernandez2021_text_python", {"ft_k": 1.9e4, "ft_alpha": 0.18, "ft_beta": 0.38},
        "Hernandez et al. (2021), arXiv:2102.01293, Fig. 1 / Table 1 (text → Python)",
        unit="characters", checked="transcribed in the project design; not re-read from the "
                                   "paper here"),
    "text+code->python": ConstantSet(
        "hernandez2021_textcode_python", {"ft_k": 2.1e5, "ft_alpha": 0.096, "ft_beta": 0.38},
        "Hernandez et al. (2021), arXiv:2102.01293, Table 1 (text+code → Python)",
        unit="characters", checked="transcribed in the project design; not re-read from the "
                                   "paper here"),
}
