"""Where every parameter of a scenario comes from, and how its uncertainty is drawn.

Each parameter has one source:

* ``fitted`` — estimated by this project (:mod:`structural.counterfactual.fits`): dataset,
  estimator and SE; drawn jointly from the fit's bootstrap replicates or its covariance on the
  estimation scale (never independent marginals of correlated estimates);
* ``published`` — a constant from a paper or a datasheet (:mod:`structural.published`,
  :mod:`structural.hardware`), held at its value;
* ``assumed`` — no estimate exists; the value comes with a stated range that is drawn
  (uniform, independently) unless the scenario pins it (``[parameters] pinned = [...]``) or it
  is part of the question itself (workload, architecture).

The loss-to-success link (κ, ℓ_task, φ) is fitted by default in every scenario with a success
target (the ``success_link`` fit of :mod:`structural.counterfactual.fits`); a scenario that names
its own ``fit`` list without it, or pins the link in ``[parameters.values]``, makes it an
assumption drawn over the ranges below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from structural import published

# The public API is the package's: a run's ``provenance`` table shows what this builds.
__all__: list[str] = []

#: Assumed parameters drawn by default: name → (group, range as (low, high) factors of the value
#: when ``relative``, else absolute), and why the range.
ASSUMED_RANGES: dict[str, tuple[str, tuple[float, float], bool, str]] = {
    "ctx_alpha": ("context law", (0.5, 1.5), True, "±50%: no transferable published value"),
    "ctx_beta": ("context law", (0.8, 1.2), True, "±20% around the Xiong et al. 2023 range"),
    "kappa": ("success link", (0.5, 2.0), True, "÷2 to ×2 (the issue's κ 5 → 20)"),
    "ell_task": ("success link", (-0.02, 0.02), False, "±0.02 nats"),
    "phi": ("success link", (0.5, 2.0), True, "÷2 to ×2"),
    "verifier_fpr": ("answer selection", (0.5, 2.0), True, "÷2 to ×2"),
    "verifier_fnr": ("answer selection", (0.5, 2.0), True, "÷2 to ×2"),
    "task_data_share": ("task data", (0.5, 2.0), True, "÷2 to ×2"),
    "chars_per_token": ("fine-tuning transfer", (0.875, 1.125), True, "3.5 to 4.5 at 4"),
    # used only where a scenario leaves out the serving_utilisation fit
    "u_prefill": ("serving utilisation", (0.6, 1.4), True, "±40% (about 2.5 SEs of the fit)"),
    "u_decode": ("serving utilisation", (0.6, 1.4), True,
                 "±40% around the value fitted to TensorRT-LLM's throughput tables"),
    "serve_price_scale": ("serving price", (0.8, 1.25), True, "÷1.25 to ×1.25 of the price"),
}

HARDWARE = ("peak_train", "peak_infer", "bandwidth", "memory_bytes", "interconnect_bandwidth")


@dataclass(frozen=True)
class Provenance:
    """One row of the provenance table."""

    name: str
    value: float
    source: str          # fitted | published | assumed
    reference: str

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "source": self.source,
                "reference": self.reference}


def success_link(kind: str = "assumed") -> dict[str, str]:
    """The loss → success link's parameters (κ, ℓ_task, φ), each with ``kind`` as its source: the
    parameters a success target uses (fitted by default; assumed, over :data:`ASSUMED_RANGES`,
    where the scenario leaves the fit out)."""
    return {k: kind for k in ("kappa", "ell_task", "phi")}


def published_reference(name: str, preset: str | None, hardware: str,
                        value: float | None = None) -> str | None:
    """The paper or datasheet behind a published parameter (for the context law: when its value
    is a Xiong et al. 2023 fit), or None."""
    from structural import context

    for law in context.XIONG_2023.values():
        if (name, value) in (("ctx_alpha", law.alpha), ("ctx_beta", law.beta)):
            return f"{law.source}, {law.model} ({law.status})"
    if preset and name in published.CHINCHILLA.get(preset, {}):
        return published.CHINCHILLA[preset].source
    if name in ("R_D_star", "R_N_star"):
        return published.MUENNIGHOFF_2023.source
    if name in ("ft_k", "ft_alpha", "ft_beta"):
        s = published.HERNANDEZ_2021["text->python"]
        return f"{s.source} (units: {s.unit})"
    if name in HARDWARE:
        return f"{hardware} datasheet (structural.hardware)"
    return None


def assumed_ranges(values: Mapping[str, float], used: set[str],
                   given: Mapping[str, tuple[float, float]],
                   pinned: set[str]) -> dict[str, tuple[float, float]]:
    """The ranges of the assumed parameters to draw: the defaults above for the parameters the
    scenario uses, replaced by the scenario's own ``[parameters.ranges]``; pinned ones left out."""
    out = {}
    for name, (_, (lo, hi), relative, _) in ASSUMED_RANGES.items():
        if name in used and name in values and name not in pinned:
            v = values[name]
            out[name] = (v * lo, v * hi) if relative else (v + lo, v + hi)
    out.update({k: v for k, v in given.items() if k not in pinned})
    return out


def group_of(name: str) -> str:
    return ASSUMED_RANGES[name][0] if name in ASSUMED_RANGES else name


def guardrail_rows(parameters: Mapping[str, float]) -> list[Provenance]:
    """The provenance of a guardrail question's parameters (``[guardrails]``): the chip's peak
    FLOP/s and $/chip-hour are published where they are a hardware preset's values (datasheet;
    Epoch AI's median on-demand price); everything else is an assumption the scenario pins (the
    question's own numbers, held at their values).

    Examples
    --------
    >>> from structural.counterfactual.provenance import guardrail_rows
    >>> rows = guardrail_rows({"peak_flops": 989.4e12, "chip_hour": 4.40, "N": 8e9})
    >>> [(r.name, r.source) for r in rows]
    [('peak_flops', 'published'), ('chip_hour', 'published'), ('N', 'assumed')]
    """
    from structural.hardware import PRESETS

    def preset(name: str, value: float) -> str | None:
        for h, hw in PRESETS.items():
            if name == "chip_hour" and hw.price_per_hour == value:
                return f"{h} $/chip-hour (structural.hardware: {hw.source})"
            for prec, peak in hw.peak_flops.items():
                if name == "peak_flops" and peak == value:
                    return f"{h} datasheet, {prec} (structural.hardware)"
        return None

    rows = []
    for name, value in parameters.items():
        ref = preset(name, value)
        rows.append(Provenance(name, float(value), "published", ref) if ref else
                    Provenance(name, float(value), "assumed",
                               "pinned by the scenario's [guardrails] table"))
    return rows

