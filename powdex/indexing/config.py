"""Settings of an indexing search, and their fingerprint for resuming finished work."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from powdex.crystal import LatticeSystem

# Bumped when a setting changes meaning or the same settings give another ranking (not when one is added
# with a default that keeps the old behaviour). 2: the short-vector prior replaces the 2 Å floor, zone
# starts join the default search, and zero shifts are searched within ±0.25° before ±0.6°. 3: a candidate may
# leave 4 lines, not 2; measured patterns are scored at their peak widths. 4: a list without widths at a synchrotron
# wavelength has the 2θ error and zero-shift windows scaled by λ / λ(Cu Kα1). 5: a cell leaving one line ends the
# search on its lead from 0 per peak (``lead_score_per_peak``, was ``stop_score_per_peak``'s 0.5), and a decisive
# orthorhombic cell found by the zone starts ends it before that system's random starts. 6: a cell that explains
# every line ends the search on its lead as one that leaves one line does (``IndexingSearch.leads_clearly``).
SETTINGS_SCHEMA_VERSION = 6

SEARCH_ORDER = (
    LatticeSystem.CUBIC,
    LatticeSystem.HEXAGONAL,
    LatticeSystem.RHOMBOHEDRAL,
    LatticeSystem.TETRAGONAL,
    LatticeSystem.ORTHORHOMBIC,
    LatticeSystem.MONOCLINIC,
    LatticeSystem.TRICLINIC,
)


class IndexingConfig(BaseModel):
    """Options of :func:`index_peaks` (validated; the CLI builds one of these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    systems: tuple[LatticeSystem, ...] = SEARCH_ORDER
    zero_shift: bool | None = Field(
        None, description="search a zero shift of 2θ: from the start (True), never (False), or from the first pass "
        "over the lattice systems that found no cell solving the list (None)"
    )
    zero_shift_window: float = Field(
        0.25, gt=0, description="° 2θ: the zero shift first searched within ±this; a wider window lets false cells fit "
        "(this and the window below, and two_theta_error, are a laboratory's: a list without widths at a wavelength "
        "shorter than Cu Kα1 that no X-ray tube emits has them scaled by λ / λ(Cu Kα1))"
    )
    wide_zero_shift_window: float = Field(
        0.6, gt=0, description="° 2θ: ...widened to ±this after a pass, with a second phase allowed for, that found "
        "no cell solving the list"
    )
    min_length: float = Field(1.5, gt=0, description="Å: no lattice vector of a candidate may be shorter")
    short_length: float = Field(
        2.3, gt=0, description="Å: lattice vectors shorter than this lower a candidate's ranking score (a soft prior)"
    )
    seed: int = 0
    time_limit: float = Field(60.0, gt=0, description="seconds for the whole search")
    stop_m: float = Field(20.0, ge=0, description="stop when a system gives a full indexing with M_N at least this")
    two_theta_error: float = Field(
        0.02, gt=0, description="expected standard error of peak positions, ° 2θ, of a laboratory list"
    )
    impurity_fraction: float = Field(0.05, gt=0, lt=1)
    detection_probability: float = Field(0.7, gt=0, lt=1)
    stop_score_per_peak: float = Field(
        0.5, description="...a ranking score at least this per peak (true cells score about 0.5–1.5)"
    )
    stop_score_per_unindexed: float = Field(
        0.5, ge=0, description="...and this much more per peak when one line is left unexplained"
    )
    stop_gap_per_peak: float = Field(
        0.3, ge=0, description="a cell explaining every line or all but one, below the score above, still stops the "
        "search, once the systems it needs and local searches around its least distortions are done, when it leads "
        "every other lattice by this much per peak"
    )
    lead_score_per_peak: float = Field(
        0.0, description="...and scores at least this per peak"
    )
    solution_m: float = Field(10.0, ge=0, description="M_N from which a lattice's volume search counts as solved")
    max_unindexed: int = Field(
        4, ge=0, description="unexplained lines a candidate may leave (a second phase or impurity puts 3-4 lines "
        "among the first 20 of a real pattern)"
    )
    second_phase_share: float = Field(
        0.45, ge=0, lt=1, description="...and this share of the lines from the first pass over the lattice systems "
        "that found no cell solving the list, should it be more (a mixture, or a partial transformation, puts half "
        "the first lines of a pattern from each phase); 0 keeps max_unindexed"
    )
    local_restarts: int = Field(3, ge=0, description="near misses per stage restarted locally")
    subcell_checks: int = Field(3, ge=0, description="best candidates checked for sub-cells after each lattice system")
    method: str = Field(
        "both", description="classical: SVD-Index (Coelho 2003) from random starts; learned: the learned pipeline "
        "alone (cells drawn from the shipped regression models, Miller indices from the assignment network, "
        "Metropolis chains), every system with shipped models; both: SVD-Index from random starts, and from model "
        "draws for monoclinic and triclinic; or one registered search method (powdex.indexing.methods)"
    )
    learned_starts: int = Field(
        512, ge=0, description="both: SVD-Index starts per monoclinic or triclinic Bravais lattice from model draws"
    )
    learned_draws: int = Field(60, ge=2, description="learned: cells drawn per group, half network, half forest")
    chains: int = Field(64, ge=0, description="learned: Metropolis chains per lattice system")
    chain: Any = Field(
        None, description="learned: each chain's steps, patience, temperature and local minimizer "
        "(a powdex.optim.MetropolisChain or its settings; None: DEFAULT_CHAIN)",
    )
    indices: Literal["sampled", "most_probable"] = Field(
        "sampled", description="learned: each chain step's Miller indices, drawn from the network's probabilities "
        "while the cell is uncertain (resampled), or the most probable"
    )
    subsample: Literal["random", "softmax"] = Field(
        "random", description="learned: peaks a chain step fits, drawn uniformly or by their index's probability"
    )
    subsample_fraction: float = Field(0.75, gt=0, le=1, description="learned: share of the assigned peaks a step fits")
    chain_epsilon: float = Field(
        0.2, gt=0, description="learned: ° 2θ, the ε of the chains' σ² = q²(|Δq²| + ε), as a 2θ width at each peak"
    )
    max_subcell_index: int = Field(4, ge=1, le=6, description="largest volume ratio of a sub-cell checked")
    local_trials: int = Field(128, ge=1, description="trials around each near miss")
    polish_per_stage: int = Field(12, ge=1, description="distinct trial solutions polished per volume stage")
    batch_size: int = Field(64, ge=8, description="trials per volume stage for one free parameter")
    top: int = Field(10, ge=1)
    formula: str | None = Field(
        None, description="chemical formula (e.g. C6H12O6): the notes give each reported cell's formula units at "
        "18 Å³ per non-hydrogen atom"
    )

    @field_validator("formula")
    @classmethod
    def _known_formula(cls, value: str | None) -> str | None:
        from powdex.indexing.formula import non_hydrogen_atoms

        if value is not None and non_hydrogen_atoms(value) <= 0:
            raise ValueError(f"formula {value!r} has no atom other than hydrogen")
        return value

    @field_validator("chain", mode="before")
    @classmethod
    def _chain(cls, value):
        # The engine's minimizers load scipy.optimize and nlopt: paid only by a search that sets its own chain.
        if value is None:
            return None
        from powdex.optim import MetropolisChain

        chain = value if isinstance(value, MetropolisChain) else MetropolisChain.model_validate(value)
        return None if chain == default_chain() else chain

    @property
    def metropolis_chain(self):
        """``chain``, or the default chain where none is set."""
        return self.chain if self.chain is not None else default_chain()

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from powdex.indexing.methods import method_names

        if value not in method_names():
            raise ValueError(f"unknown search method {value!r}; choose from {', '.join(method_names())}")
        return value

    @field_validator("systems", mode="before")
    @classmethod
    def _parse_systems(cls, value):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        known = [s.value for s in SEARCH_ORDER]
        if not value:
            raise ValueError(f"no lattice system given; choose from {','.join(known)}")
        systems = []
        for v in value:
            name = v.value if isinstance(v, LatticeSystem) else str(v).strip().lower()
            if name not in known:
                raise ValueError(f"unknown lattice system {name!r}; choose from {','.join(known)}")
            systems.append(LatticeSystem(name))
        return tuple(systems)


def default_chain():
    """The learned chains' default: 30 steps of a dogleg trust region, ending after 8 without a gain."""
    from powdex.optim import MetropolisChain, TrustRegion

    return MetropolisChain(local=TrustRegion(kind="dogleg"), steps=30, patience=8)


def peaks_needed(system: LatticeSystem, zero_shift: bool) -> int:
    """Peaks that determine a cell of ``system``: one more than its free parameters (the zero shift included)."""
    return system.n_free + int(zero_shift) + 1


def settings_fingerprint(settings: BaseModel, extra: dict | None = None) -> str:
    """A digest of the settings that differ from their defaults, with ``SETTINGS_SCHEMA_VERSION``.

    Finished work is kept when the fingerprint matches: a new setting added with
    its default leaves every old fingerprint as it was."""
    changed = settings.model_dump(mode="json", exclude_defaults=True)
    text = json.dumps({"schema_version": SETTINGS_SCHEMA_VERSION, "settings": changed, "extra": extra or {}},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
