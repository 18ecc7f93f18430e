"""A refinement plan in TOML: the phases, which parameters are free in which stage,
bounds and constraints; the same plan serves one pattern or a series.

    version = 1
    background_terms = 4
    [[phases]]
    name = "rutile"
    cif = "rutile.cif"              # relative to the plan's folder
    [[stages]]
    free = ["background", "scale"]
    [[stages]]
    free = ["cell", "zero", "profile"]
    [bounds]
    "rutile:O1.x" = [0.28, 0.32]
    [[constraints]]
    parameter = "rutile:O1.y"
    equals = "rutile:O1.x"
    ratio = 1.0

Stages are cumulative: each frees its names on top of the earlier ones.
A phase given by ``cell`` (a, b, c, α, β, γ) and ``space_group`` instead of a CIF
is refined by a Pawley or Le Bail fit (``method``, Le Bail by default), alone:

    [[phases]]
    name = "T"
    cell = [4.0, 4.0, 4.08, 90, 90, 90]
    space_group = "P4/mmm"
    method = "lebail"

Stages, bounds and constraints name Rietveld parameters; a Pawley or Le Bail
phase uses the plan's ``background_terms`` and ``profile`` and refines every
group of ``powdex.refine``.

    instrument = "instrument.toml"   # relative to the plan's folder; or .instprm, .prm, .irf

holds a calibrated instrument (``powdex calibrate``) in every fit: its profile,
asymmetry and zero are held, its polarisation and Kβ ratio used, and the
sample's broadening and displacement refined where the stages free them
(``rietveld_refine(instrument=...)``, ``powdex.refine(instrument=...)``); the
plan's ``profile`` overrides its values.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from powdex.instrument import Instrument, InstrumentFileError, read_instrument
from powdex.refinement.errors import RefinementError
from powdex.refinement.rietveld import DEFAULT_STAGES, RietveldPhase
from powdex.refinement.structure import CrystalStructure

PLAN_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhasePlan(_Strict):
    name: str
    cif: str | None = None
    cell: list[float] | None = None
    space_group: str | None = None
    method: Literal["pawley", "lebail"] = "lebail"
    preferred_direction: tuple[int, int, int] = (0, 0, 1)

    @model_validator(mode="after")
    def _one_source(self) -> PhasePlan:
        if (self.cif is None) == (self.cell is None):
            raise ValueError(f"phase '{self.name}': give either cif or cell and space_group")
        if self.cell is not None and self.space_group is None:
            raise ValueError(f"phase '{self.name}': a cell needs a space_group")
        if self.cell is not None and len(self.cell) != 6:
            raise ValueError(f"phase '{self.name}': cell needs a, b, c, alpha, beta, gamma (6 values)")
        return self


class StagePlan(_Strict):
    free: list[str]


class ConstraintPlan(_Strict):
    parameter: str
    equals: str
    ratio: float = 1.0


class RefinementPlan(_Strict):
    version: int = PLAN_VERSION
    phases: list[PhasePlan] = Field(min_length=1)
    stages: list[StagePlan] = Field(default_factory=lambda: [StagePlan(free=list(s)) for s in DEFAULT_STAGES])
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    constraints: list[ConstraintPlan] = Field(default_factory=list)
    background_terms: int = Field(6, ge=1, le=40)
    radiation: str | None = None
    monochromator_two_theta: float = 0.0
    internal_standard: tuple[str, float] | None = None
    profile: dict[str, float] = Field(default_factory=dict)
    instrument: str | None = None
    folder: str = "."

    @model_validator(mode="after")
    def _version(self) -> RefinementPlan:
        if self.version > PLAN_VERSION:
            raise ValueError(f"plan version {self.version}: this powdex reads up to {PLAN_VERSION}")
        return self

    @classmethod
    def from_toml(cls, path: str | Path) -> RefinementPlan:
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError) as error:
            raise RefinementError(f"{path}: cannot read the plan ({error})") from None
        except tomllib.TOMLDecodeError as error:
            raise RefinementError(f"{path}: not valid TOML ({error})") from None
        try:
            return cls(**document, folder=str(path.parent))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise RefinementError(f"{path}: {where}: {first['msg']}") from None

    def cumulative_stages(self) -> tuple[tuple[str, ...], ...]:
        """Each stage's names with every earlier stage's (``rietveld_refine`` takes them so)."""
        released: list[str] = []
        stages = []
        for stage in self.stages:
            released += stage.free
            stages.append(tuple(released))
        return tuple(stages)

    def rietveld_phases(self) -> list[RietveldPhase]:
        phases = []
        for phase in self.phases:
            if phase.cif is None:
                raise RefinementError(f"phase '{phase.name}': a Rietveld refinement needs a CIF; a cell and space "
                                      "group alone is for a Pawley or Le Bail fit (powdex refine)")
            phases.append(RietveldPhase(CrystalStructure.from_cif(Path(self.folder) / phase.cif), phase.name,
                                        phase.preferred_direction))
        return phases

    def calibrated_instrument(self) -> Instrument | None:
        """The plan's ``instrument`` file, read; None where it names none."""
        if self.instrument is None:
            return None
        try:
            return read_instrument(Path(self.folder) / self.instrument)
        except InstrumentFileError as error:
            raise RefinementError(f"plan instrument: {error}") from None

    def refine_options(self) -> dict:
        """The keywords of ``rietveld_refine`` this plan sets."""
        return {"stages": self.cumulative_stages(), "bounds": dict(self.bounds),
                "constraints": [(c.parameter, c.equals, c.ratio) for c in self.constraints],
                "background_terms": self.background_terms, "radiation": self.radiation,
                "monochromator_two_theta": self.monochromator_two_theta,
                "internal_standard": self.internal_standard, "profile": dict(self.profile),
                "instrument": self.calibrated_instrument()}
