"""The result of indexing one peak list, and its JSON document (written by ``save``, read by ``from_dict``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.errors import PowdexError
from powdex.files import write_atomically
from powdex.indexing.candidate import Candidate
from powdex.peaks import PeakList

# Bumped when a key of the document changes meaning or goes away; readers refuse a newer one.
# 2: each candidate has "probability" (``powdex.indexing.confidence``); version 1 documents read without it.
RESULT_SCHEMA_VERSION = 2


class ResultFileError(PowdexError, ValueError):
    """A result document that cannot be read back."""


@dataclass(frozen=True)
class IndexingResult:
    """Ranked candidate cells of one peak list, best first, with what was read and asked."""

    candidates: list[Candidate]
    elapsed: float
    trials: int
    source: str
    skipped: tuple[LatticeSystem, ...] = ()  # asked for, but with too few peaks to determine their cells
    notes: tuple[str, ...] = ()  # what the user should hear about this search (assumptions, too few lines)
    peaks: PeakList | None = None
    settings: dict = field(default_factory=dict)  # {"indexing": IndexingConfig as JSON, ...: how peaks were read}
    settings_fingerprint: str = ""  # ``powdex.indexing.config.settings_fingerprint`` of the settings
    details: tuple[str, ...] = ()  # what the search records but need not tell on every run (kept in the JSON)
    # Per candidate: the calibrated probability that its equivalent set holds the true cell
    # (``powdex.indexing.confidence``); empty for a document written before it was computed.
    probabilities: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.probabilities and len(self.probabilities) != len(self.candidates):
            raise ValueError(f"{len(self.probabilities)} probabilities for {len(self.candidates)} candidates")

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def best_probability(self) -> float | None:
        """The calibrated probability that the best candidate (its equivalent set) is right; None if unknown."""
        return self.probabilities[0] if self.probabilities else None

    def with_settings(self, **more: dict) -> IndexingResult:
        """The result with more settings recorded (a series adds how its files were read)."""
        return replace(self, settings=self.settings | more)

    def to_dict(self) -> dict:
        from powdex import __version__

        document = {
            "schema_version": RESULT_SCHEMA_VERSION,
            "powdex_version": __version__,
            "settings": self.settings,
            "settings_fingerprint": self.settings_fingerprint,
        }
        if self.peaks is not None:
            document["peaks"] = _peaks_dict(self.peaks)
        return document | {
            "source": self.source,
            "elapsed_seconds": self.elapsed,
            "trials": self.trials,
            "skipped_systems": [s.value for s in self.skipped],
            "notes": list(self.notes),
            "details": list(self.details),
            "candidates": [c.to_dict() | ({"probability": p} if p is not None else {})
                           for c, p in zip(self.candidates, self._probability_per_candidate())],
        }

    def _probability_per_candidate(self) -> list[float | None]:
        return list(self.probabilities) if self.probabilities else [None] * len(self.candidates)

    @classmethod
    def from_dict(cls, document: dict) -> IndexingResult:
        version = document.get("schema_version", 0)
        if version > RESULT_SCHEMA_VERSION:
            raise ResultFileError(f"result schema version {version} is newer than this powdex reads "
                                  f"({RESULT_SCHEMA_VERSION}); update powdex")
        try:
            candidates = document["candidates"]
            known = all("probability" in c for c in candidates)
            return cls(
                candidates=[Candidate.from_dict(c) for c in candidates],
                elapsed=float(document["elapsed_seconds"]),
                trials=int(document["trials"]),
                source=str(document["source"]),
                skipped=tuple(LatticeSystem(s) for s in document.get("skipped_systems", [])),
                notes=tuple(document.get("notes", [])),
                peaks=_peaks_from(document["peaks"], str(document["source"])) if "peaks" in document else None,
                settings=dict(document.get("settings", {})),
                settings_fingerprint=str(document.get("settings_fingerprint", "")),
                details=tuple(document.get("details", [])),
                probabilities=tuple(float(c["probability"]) for c in candidates) if known and candidates else (),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ResultFileError(f"not an indexing result: {error!r}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON document; a reader never sees half of it (``write_atomically``)."""
        write_atomically(Path(path), json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> IndexingResult:
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ResultFileError(f"{path}: cannot read an indexing result ({error})") from None
        try:
            return cls.from_dict(document)
        except ResultFileError as error:
            raise ResultFileError(f"{path}: {error}") from None


def _peaks_dict(peaks: PeakList) -> dict:
    observed = {
        "wavelength": peaks.wavelength,
        "wavelength_assumed": peaks.wavelength_assumed,
        "q2": peaks.q2.tolist(),
        "intensity": peaks.intensity.tolist(),
        "notes": list(peaks.notes),
    }
    if peaks.two_theta is not None:
        observed["two_theta"] = peaks.two_theta.tolist()
    return observed


def _peaks_from(observed: dict, source: str) -> PeakList:
    two_theta = observed.get("two_theta")
    return PeakList(np.asarray(observed["q2"], dtype=float), np.asarray(observed["intensity"], dtype=float), source,
                    observed.get("wavelength"), None if two_theta is None else np.asarray(two_theta, dtype=float),
                    bool(observed.get("wavelength_assumed", False)), tuple(observed.get("notes", [])))

