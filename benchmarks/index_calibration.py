"""Calibration of the probability that a candidate cell is the true one (``powdex.indexing.confidence``).

Three steps, each resumable:

1. ``collect``: index held-out peak lists and keep every ranked candidate with whether it is the true
   lattice (``same_lattice``, 0.3 % tolerance), appended to ``--out`` (JSON lines) as they arrive:
   * synthetic lists of random cells over the 14 Bravais lattices, with the faults of
     ``benchmarks/index_bravais.py`` (2θ noise 0.01–0.02°, 10 % weakest lines missing, zero shift up to
     ±0.05° in half, one impurity line in a third);
   * lists of real structures from CIFs (files, folders, or the wheels of structure libraries:
     ``pip download --no-deps pyxtal==1.1.5 dans_diffraction==3.4.0 -d wheels``) with their structure
     factors to 150° 2θ, as a lab scan reaches (the learned models' entries stop at 60°), then March–Dollase texture (r 0.6–1 along a random reciprocal axis), specimen displacement
     (±0.15 mm on a 240 mm goniometer), 2θ noise 0.005–0.02°, lines under 1 % dropped, one impurity line in
     a third;
   * with ``--hard-faults``, synthetic lists of 14 lines with 20 % missing, 2θ noise 0.02–0.03° and an impurity
     line in each (kind ``synthetic-hard``): the benchmark faults leave few searches wrong or undecided, and a
     calibration needs such searches to learn, and to show, the probabilities between the extremes.
   Each row keeps the wall and CPU seconds and whether the time limit ended the search (``cut_off``).
2. ``outcomes``: how each real-structure list came out: the true cell first; a sub-cell of the true lattice
   (exact lattice arithmetic, ``powdex.crystal.superlattice_cell``) that indexes every line the true cell indexes,
   or leaves only lines it could index by chance; fewer lines than the true system needs; another miss; and the
   first-rate on the lists positions can decide next to the strict one.
3. ``fit``: the conditional logit of ``powdex.indexing.confidence`` (which equivalent set holds the true
   cell, or none) by maximum likelihood on the candidates' ranking evidence, on the patterns of the training split (half of each kind, chosen by
   ``--seed``); ``--write-model`` writes the coefficients to ``powdex/indexing/confidence.json``. With
   ``--undecidable-subcells-right`` a real-structure candidate counts right also when it is a sub-cell that
   positions cannot tell from the true cell (the probability of that set).
4. The report on the held-out half, separately for each kind of list: for the best candidate, each
   probability decile's mean predicted probability against the observed frequency, the Brier score, the
   log-likelihood, and a reliability diagram (``--plot``), for the new fit and for the coefficients in
   ``confidence.json`` it would replace, on the same held-out lists.
5. ``check``: the same report for the coefficients in ``confidence.json`` alone, on every list of collections made
   after they were fitted (new seeds), to see whether they still hold for the search as it is now.

    python3 benchmarks/index_calibration.py collect --cases 14 --seed 1 --time-limit 30 --workers 1 --out syn.jsonl
    python3 benchmarks/index_calibration.py collect --hard-faults --cases 8 --seed 3 --time-limit 30 --out hard.jsonl
    python3 benchmarks/index_calibration.py collect --cif wheels/*.whl --seed 1 --time-limit 30 --out real.jsonl
    python3 benchmarks/index_calibration.py outcomes --out real.jsonl
    python3 benchmarks/index_calibration.py fit --out syn.jsonl hard.jsonl real.jsonl --plot calib.png --write-model
    python3 benchmarks/index_calibration.py check --out new_syn.jsonl new_hard.jsonl new_real.jsonl --plot check.png

The runs behind the shipped coefficients are kept, gzip-compressed, in ``benchmarks/results/indexing/``
(``index_calibration_*_seed*.jsonl.gz``, with ``index_calibration.md``): ``fit --out`` reads them as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from index_bravais import load_rows, random_cell, run_resumable
from rich.console import Console
from rich.table import Table

from powdex.crystal import BravaisLattice, Cell, merge_lines, same_lattice
from powdex.errors import PowdexError
from powdex.indexing import IndexingConfig, PeakListFaults, index, synthetic_peaks
from powdex.indexing.candidate import Candidate
from powdex.indexing.confidence import COEFFICIENTS, FEATURES, ConfidenceModel, candidate_features, equivalent_sets
from powdex.peaks import CU_KA1, PeakInputError, PeakList, q2_to_two_theta
from powdex.training.diffraction import Structure, structure_lines

GONIOMETER_RADIUS = 240.0  # mm
REAL_TWO_THETA_MAX = 150.0  # degrees: a lab scan's end; the learned models' entries stop at 60°
FIRST_PEAKS = 20
# The hard synthetic lists (``collect --hard-faults``): fewer lines, so that the searches that fail or stay
# undecided, which the benchmark faults rarely produce, fill the middle of the probability range.
HARD_PEAKS = 14
KINDS = ("synthetic", "synthetic-hard", "real")


# -- collect -------------------------------------------------------------------
def _record(kind: str, name: str, truth: Cell, centring: str, make_peaks, seed: int, time_limit: float) -> dict:
    """Index the peak list ``make_peaks()`` and record its candidates and which are the true lattice."""
    row = {"kind": kind, "name": name, "truth": truth.parameters.tolist(), "centring": centring,
           "time_limit": time_limit}
    cpu_start = time.process_time()
    try:
        peaks = make_peaks()
        # The list itself, for ``outcomes`` to polish the true cell on it.
        row["two_theta"] = peaks.two_theta_at(CU_KA1).tolist()
        result = index(peaks, config=IndexingConfig(seed=seed, zero_shift=True, time_limit=time_limit))
    except PowdexError as error:  # too few lines to index (a small cubic cell at Cu Kα1): no candidate to rate
        return row | {"error": str(error), "seconds": 0.0, "correct": [], "candidates": []}
    except MemoryError:  # under a memory limit (ulimit -v) that keeps a runaway search from the machine's others
        return row | {"error": "out of memory", "seconds": time.process_time() - cpu_start, "correct": [],
                      "candidates": []}
    correct = [same_lattice(c.cell, truth, c.bravais.centring, centring, rtol=3e-3) for c in result.candidates]
    # CPU seconds and whether the time limit ended the search: a limit that cuts most searches off calibrates
    # the probability for a regime users with the default limit never see.
    return row | {"seconds": result.elapsed, "cpu_seconds": time.process_time() - cpu_start,
                  "cut_off": any("time limit" in note for note in result.notes), "notes": list(result.notes),
                  "correct": correct,
                  "candidates": [c.to_dict() for c in result.candidates]}


def synthetic_case(bravais_symbol: str, case: int, seed: int, time_limit: float, hard: bool = False) -> dict:
    bravais = BravaisLattice(bravais_symbol)
    rng = np.random.default_rng([seed, case, list(BravaisLattice).index(bravais), 27])
    while True:
        cell = random_cell(bravais, rng)
        if 40 <= cell.volume / bravais.points_per_cell <= 1500:
            break
    if hard:
        faults = PeakListFaults(two_theta_noise=float(rng.uniform(0.02, 0.03)), missing_fraction=0.2,
                                zero_shift=float(rng.uniform(-0.08, 0.08)) if rng.random() < 0.5 else 0.0,
                                impurity=True)
        n_peaks = HARD_PEAKS
    else:
        faults = PeakListFaults(two_theta_noise=float(rng.uniform(0.01, 0.02)), missing_fraction=0.1,
                                zero_shift=float(rng.uniform(-0.05, 0.05)) if rng.random() < 0.5 else 0.0,
                                impurity=bool(rng.random() < 1 / 3))
        n_peaks = FIRST_PEAKS
    return _record("synthetic-hard" if hard else "synthetic", f"{bravais.value}#{case}", cell, bravais.centring,
                   lambda: synthetic_peaks(cell, bravais, n_peaks, faults=faults, rng=rng), case, time_limit)


def _reciprocal_metric(cell: Cell) -> np.ndarray:
    """G* with q² = h G* h, from q² of the unit vectors and their sums (polarisation)."""
    eye = np.eye(3)
    diagonal = cell.q2(eye)
    metric = np.diag(diagonal)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        metric[i, j] = metric[j, i] = (float(cell.q2((eye[i] + eye[j])[None])[0]) - diagonal[i] - diagonal[j]) / 2
    return metric


def real_structure_peaks(structure: Structure, rng: np.random.Generator, name: str) -> PeakList:
    """The first ``FIRST_PEAKS`` lines of a structure at Cu Kα1, to ``REAL_TWO_THETA_MAX`` as a lab scan reaches,
    with texture, displacement, noise and perhaps an impurity line (the module docstring)."""
    cell = structure.cell
    lines = structure_lines(structure, REAL_TWO_THETA_MAX)
    tt = q2_to_two_theta(lines.q2, CU_KA1)
    keep = np.isfinite(tt) & (tt <= REAL_TWO_THETA_MAX)
    tt, hkl, intensity = tt[keep], lines.hkl[keep].astype(float), lines.intensity[keep]
    if not len(tt):
        raise PeakInputError(f"<{name}>: no reflection below {REAL_TWO_THETA_MAX:g}° 2θ at Cu Kα1")
    # March–Dollase texture: P(α) = (r² cos²α + sin²α / r)^(-3/2), α between h and the preferred reciprocal axis.
    metric = _reciprocal_metric(cell)
    axis = np.eye(3)[rng.integers(3)]
    r = float(rng.uniform(0.6, 1.0))
    cos_alpha = (hkl @ metric @ axis) / np.sqrt(np.einsum("ij,jk,ik->i", hkl, metric, hkl) * (axis @ metric @ axis))
    intensity = intensity * (r**2 * cos_alpha**2 + (1 - cos_alpha**2) / r) ** -1.5
    order = np.argsort(tt)
    position, total = merge_lines(tt[order], intensity[order], within=0.06)
    strong = total >= 0.01 * total.max()
    position, total = position[strong][:FIRST_PEAKS], total[strong][:FIRST_PEAKS]
    displacement = float(rng.uniform(-0.15, 0.15))  # mm
    position = position - np.degrees(2 * displacement * np.cos(np.radians(position / 2)) / GONIOMETER_RADIUS)
    position = position + rng.normal(0.0, float(rng.uniform(0.005, 0.02)), len(position))
    if rng.random() < 1 / 3:
        extra = rng.uniform(position[0], position[-1])
        if np.min(np.abs(position - extra)) > 0.18:
            position, total = np.append(position[:-1], extra), np.append(total[:-1], np.median(total))
    order = np.argsort(position)
    position, total = merge_lines(position[order], total[order], within=0.01)
    return PeakList.from_values(position, units="2theta", wavelength=CU_KA1, intensity=100 * total / total.max(),
                                source=f"<{name}>")


def real_case(name: str, structure: Structure, case: int, seed: int, time_limit: float) -> dict:
    return _record("real", name, structure.cell, structure.space_group.centring_type(),
                   lambda: real_structure_peaks(structure, real_stream(seed, case), name), case, time_limit)


def real_stream(seed: int, case: int) -> np.random.Generator:
    """The random stream of real-structure list ``case`` of a ``collect`` run with ``--seed`` ``seed``."""
    return np.random.default_rng([seed, case, 2027])


def real_lists(cif: list[Path], variants: int, console: Console) -> list[tuple[str, Structure, int]]:
    """(name, structure, case) of every real-structure peak list: ``variants`` per structure of the CIFs."""
    from models_real_structures import structures

    found, skipped = structures(cif)
    console.print(f"{len(found)} structures read from CIFs (skipped: {dict(skipped) or 'none'})")
    return [(f"{name}/{variant}", entry, i * variants + variant) for i, (name, entry) in enumerate(found)
            for variant in range(variants)]


def collect(args: argparse.Namespace, console: Console) -> None:
    done = load_rows(args.out)
    have = {r["name"] for r in done}
    if args.cif:
        jobs = [(name, entry, case, args.seed, args.time_limit)
                for name, entry, case in real_lists(args.cif, args.variants, console) if name not in have]
        run = real_case
    else:
        jobs = [(b.value, c, args.seed, args.time_limit, args.hard_faults) for c in range(args.cases)
                for b in BravaisLattice if f"{b.value}#{c}" not in have]
        run = synthetic_case
    run_resumable(args.out, run, jobs, args.workers, console,
                  lambda row: f"{row['name']}: " + ("refused" if "error" in row else
                                                    f"{'right' if row['correct'][:1] == [True] else 'wrong'} first "
                                                    f"in {row['seconds']:.1f} s"))


# -- outcomes ------------------------------------------------------------------
TRUE_FIRST = "true cell first"
SUBCELL_ALL_LINES = "a sub-cell of the true lattice that indexes every line the true cell indexes"
SUBCELL_BY_CHANCE = "a sub-cell that leaves only lines the true cell could index by chance"
FEW_LINES = "fewer lines than the true lattice system needs"
OTHER_MISS = "other miss"
OUTCOMES = (TRUE_FIRST, SUBCELL_ALL_LINES, SUBCELL_BY_CHANCE, FEW_LINES, OTHER_MISS)
UNDECIDABLE = (SUBCELL_ALL_LINES, SUBCELL_BY_CHANCE)
# The largest sub-cell index looked for (the volume ratio of the true cell to the one found): JVASP-85365's tI
# cell comes out with a sixteenth of its volume.
MAX_SUBCELL_INDEX = 32
# Relative tolerance of the lattice comparisons: that of ``collect``'s right answer.
LATTICE_RTOL = 3e-3


def true_supercell(found: Candidate, row: dict) -> tuple[int, Cell | None]:
    """When the true lattice is a sublattice of index n ≥ 2 of ``found``'s (``found`` a sub-cell of the truth: an
    integer basis change of determinant n takes its basis to one of the true lattice), n and the true lattice in
    ``found``'s fitted metric (``powdex.crystal.superlattice_cell``); else (0, None)."""
    from powdex.crystal import superlattice_cell, superlattice_index

    truth, centring = Cell(*row["truth"]), found.bravais.centring
    n = superlattice_index(found.cell, truth, centring, row["centring"], max_index=MAX_SUBCELL_INDEX, rtol=LATTICE_RTOL)
    if n < 2:
        return 0, None
    return n, superlattice_cell(found.cell, truth, centring, row["centring"], index=n, rtol=LATTICE_RTOL)


def lines_left_by_chance(found: Candidate, supercell: Cell, two_theta: np.ndarray) -> tuple[int, float]:
    """How many of the lines ``found`` leaves its super-cell ``supercell`` (the true lattice in ``found``'s metric
    and zero shift) indexes, and the probability that impurity lines would fall on its own lines that often by
    chance (``powdex.indexing.search.coincidence_probability``, with the search's matching window)."""
    from powdex.crystal import niggli_reduce
    from powdex.indexing.search import IndexingSearch, coincidence_probability
    from powdex.peaks import two_theta_to_q2

    peaks = PeakList.from_values(two_theta, units="2theta", wavelength=CU_KA1, source="<list>")
    search = IndexingSearch(peaks, IndexingConfig(zero_shift=True))
    window = search.evaluator(found.bravais).match_window
    q2_max = float(two_theta_to_q2(min(float(two_theta.max()) + 1.0, 179.0), CU_KA1))

    def lines(cell: Cell) -> np.ndarray:  # every reflection of the lattice (its primitive cell: no absences)
        return q2_to_two_theta(np.unique(np.round(cell.miller_indices_within(q2_max)[1], 10)), CU_KA1) + found.zero_shift

    own, other = lines(niggli_reduce(found.cell, found.bravais.centring).cell), lines(supercell)
    left = two_theta[~found.indexed]  # the order the search saw (the list's)
    taken = int(np.count_nonzero(np.abs(left[:, None] - other[None, :]).min(axis=1, initial=np.inf) <= window))
    return taken, coincidence_probability(len(left), taken, own, other, window, float(two_theta.min()),
                                          float(two_theta.max()))


def lines_needed(row: dict) -> int:
    """The fewest lines the search lets decide a cell of the true lattice system: its free parameters, the zero
    shift, one more, and the check lines (``powdex.indexing.search.CHECK_LINES``)."""
    from powdex.crystal import conventional_cell
    from powdex.indexing.config import peaks_needed
    from powdex.indexing.search import CHECK_LINES

    system = conventional_cell(Cell(*row["truth"]), row["centring"]).bravais.lattice_system
    return peaks_needed(system, zero_shift=True) + CHECK_LINES


def undecidable_subcell(cand: Candidate, row: dict, two_theta: np.ndarray) -> tuple[str | None, int, int | None,
                                                                                     float | None]:
    """Whether ``cand`` is a sub-cell of the true lattice that the list's positions cannot tell from it: one that
    indexes every line the true cell indexes (``SUBCELL_ALL_LINES``), or leaves only lines the true cell indexes
    no more often than impurity lines would fall on its lines by chance (probability at least
    ``DECENTRED_CHANCE_SIGNIFICANCE``, the search's own test of a centred cell against its primitive cell:
    ``SUBCELL_BY_CHANCE``); else None. With the sub-cell index, the lines left that the true cell indexes and
    their chance probability (None where ``cand`` is no sub-cell of the truth)."""
    from powdex.indexing.search import DECENTRED_CHANCE_SIGNIFICANCE

    n, supercell = true_supercell(cand, row)
    if supercell is None:
        return None, 0, None, None
    taken, chance = lines_left_by_chance(cand, supercell, two_theta)
    kind = (SUBCELL_ALL_LINES if taken == 0 else SUBCELL_BY_CHANCE if chance >= DECENTRED_CHANCE_SIGNIFICANCE
            else None)
    return kind, n, taken, chance


def outcome(row: dict, two_theta: np.ndarray) -> dict:
    """How an indexed real-structure list came out (one of ``OUTCOMES``, in that order of precedence), and whether
    its line positions can decide the true cell at all (``solvable``): not when the list has fewer lines than the
    true system needs, nor when the best cell is a sub-cell of the true lattice (the truth's superstructure lines
    under the generator's intensity cut) that positions cannot tell from it (``undecidable_subcell``) and that the
    evidence puts first. A true cell first outranks its sub-cells, so its positions decided: a sub-cell of lower
    symmetry can index every line too (4-G225's cF cell as an oC cell of half its volume), but predicts lines the
    true cell does not, which the evidence counts against it."""
    needed = lines_needed(row)
    few = len(two_theta) < needed
    found = Candidate.from_dict(row["candidates"][0])
    n, taken, chance = 0, None, None
    if row["correct"][0]:
        kind = TRUE_FIRST
    else:
        subcell, n, taken, chance = undecidable_subcell(found, row, two_theta)
        kind = subcell or (FEW_LINES if few else OTHER_MISS)
    return {"name": row["name"], "outcome": kind, "solvable": not few and kind not in UNDECIDABLE,
            "lines": len(two_theta), "lines_needed": needed, "found": found.bravais.value, "subcell_index": n,
            "left": found.figures.n_unindexed, "taken": taken, "chance": chance}


def with_undecidable_subcells_right(rows: list[dict]) -> list[dict]:
    """``rows`` with each real-structure candidate that positions cannot tell from the true cell
    (``undecidable_subcell``) counted right: the probability is then that of the set of cells the list cannot
    tell apart. Only rows that keep their peak list (``collect`` records it) can be judged."""
    out = []
    for row in rows:
        if row["kind"] != "real" or "error" in row:
            out.append(row)
            continue
        if "two_theta" not in row:
            raise SystemExit(f"{row['name']}: no peak list kept in the row (collected before rows kept them)")
        two_theta = np.array(row["two_theta"])
        out.append(row | {"correct": [right or undecidable_subcell(Candidate.from_dict(c), row, two_theta)[0]
                                      is not None for right, c in zip(row["correct"], row["candidates"])]})
    return out


def row_two_theta(rows: list[dict], cif: list[Path] | None, seed: int | None, variants: int,
                  console: Console) -> dict[str, np.ndarray]:
    """Each row's peak list: kept in the row by ``collect`` since it records them, else made again from the CIFs
    with the run's ``--seed`` (the generator is deterministic)."""
    lists = {r["name"]: np.array(r["two_theta"]) for r in rows if "two_theta" in r}
    missing = {r["name"] for r in rows if r["name"] not in lists and "error" not in r}
    if missing:
        if not cif or seed is None:
            raise SystemExit(f"{len(missing)} rows keep no peak list (e.g. {sorted(missing)[0]}): give the run's "
                             "--cif and --seed to make them again")
        for name, structure, case in real_lists(cif, variants, console):
            if name in missing:
                lists[name] = real_structure_peaks(structure, real_stream(seed, case), name).two_theta_at(CU_KA1)
    return lists


def outcomes(args: argparse.Namespace, console: Console) -> str:
    """The outcome of every indexed real-structure list of ``args.out``, counted, and the first-rate on the
    lists positions can decide next to the strict one (a markdown table and the misses, returned and printed)."""
    rows = [r for r in read_rows(args.out) if r["kind"] == "real"]
    lists = row_two_theta(rows, args.cif, args.seed, args.variants, console)
    indexed = [r for r in rows if "error" not in r]
    for r in indexed:
        made, kept = lists[r["name"]], r["candidates"][0]["n_peaks"]
        if len(made) != kept:
            raise SystemExit(f"{r['name']}: the list made again has {len(made)} lines, the search saw {kept}: "
                             "not the run's --cif, --seed or --variants")
    results = [outcome(r, lists[r["name"]]) for r in indexed]
    text = outcome_table(results, f"{args.out.name}: {len(rows)} real-structure lists, {len(rows) - len(indexed)} "
                                  "refused")
    console.print(text)
    return text


def outcome_table(results: list[dict], title: str) -> str:
    """The outcomes counted, the strict and the solvable first-rates, and each miss (markdown)."""
    first = [o["outcome"] == TRUE_FIRST for o in results]
    solvable = [o["solvable"] for o in results]
    # Solvable with only the sub-cells that index every line set aside (the stricter definition).
    strict_solvable = [o["lines"] >= o["lines_needed"] and o["outcome"] != SUBCELL_ALL_LINES for o in results]

    def rate(selected: list[bool]) -> str:
        hits = sum(f and s for f, s in zip(first, selected))
        return f"{hits}/{sum(selected)} ({hits / max(sum(selected), 1):.1%})"

    lines = [title, "", "| outcome | lists |", "|---|---|"]
    lines += [f"| {kind} | {sum(o['outcome'] == kind for o in results)} |" for kind in OUTCOMES]
    lines += ["", f"True cell first: {rate([True] * len(results))} of the indexed lists (strict); {rate(solvable)} of "
              f"those positions can decide (solvable); {rate(strict_solvable)} setting aside only the sub-cells that "
              f"index every line. {sum(f and o['lines'] < o['lines_needed'] for f, o in zip(first, results))} lists "
              "with fewer lines than needed have the true cell first.", "",
              "| list | outcome | lines (needed) | best cell | sub-cell index | lines it leaves | of them the true "
              "cell indexes | chance |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {o['name'].split(':')[1].rsplit('/', 1)[-1]} | {o['outcome']} | {o['lines']} ({o['lines_needed']}) | "
              f"{o['found']} | {o['subcell_index'] or '–'} | {o['left']} | {'–' if o['taken'] is None else o['taken']} | "
              f"{'–' if o['chance'] is None else format(o['chance'], '.2g')} |"
              for o in results if o["outcome"] != TRUE_FIRST]
    return "\n".join(lines)


# -- fit and report --------------------------------------------------------------
def read_rows(path: Path) -> list[dict]:
    """The rows of a collected file, gzip-compressed (``.gz``, as the shipped runs are kept) or not."""
    if path.suffix != ".gz":
        return load_rows(path)
    import gzip

    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pattern_rows(row: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (the candidate's equivalent set holds the true cell) and which rows head a set."""
    ranked = [Candidate.from_dict(c) for c in row["candidates"]]
    if not ranked:
        return np.zeros((0, len(FEATURES))), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    sets = np.array(equivalent_sets(ranked))
    correct = np.array(row["correct"], dtype=bool)
    set_correct = np.array([correct[sets == s].any() for s in sets])
    return candidate_features(ranked), set_correct, sets == np.arange(len(ranked))


def split(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Half of each kind's crystals for fitting, the other half held out (a random half, by ``seed``); the
    peak lists of one real structure stay on one side."""
    train, test = [], []
    for kind in KINDS:
        crystals = sorted({r["name"].rsplit("/", 1)[0] for r in rows if r["kind"] == kind})
        order = np.random.default_rng(seed).permutation(len(crystals))
        fitted = {crystals[i] for i in order[: len(crystals) // 2]}
        for row in (r for r in rows if r["kind"] == kind):
            (train if row["name"].rsplit("/", 1)[0] in fitted else test).append(row)
    return train, test


def set_rows(rows: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per pattern: the features of each equivalent set's best candidate and whether it is the best-ranked set
    that holds the truth. A lower-symmetry description of the true lattice (a cubic F lattice as tetragonal I,
    an orthorhombic one as triclinic) is the true lattice too and can form a set of its own further down; the
    conditional logit needs one outcome per pattern (two would let its intercept grow without bound), and the
    best-ranked is the one the best candidate's probability is about."""
    patterns = []
    for row in rows:
        x, y, head = pattern_rows(row)
        first = y[head] & (np.cumsum(y[head]) == 1)
        patterns.append((x[head], first))
    return patterns


def log_likelihood(model: ConfidenceModel, patterns: list[tuple[np.ndarray, np.ndarray]]) -> float:
    total = 0.0
    for x, y in patterns:
        u = model.utilities(x)
        top = max(float(u.max(initial=0.0)), 0.0)
        total += float(u[y].sum()) - top - float(np.log(np.exp(-top) + np.exp(u - top).sum()))
    return total


def choose_regularisation(patterns: list[tuple[np.ndarray, np.ndarray]], grid=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0), folds: int = 5,
                          seed: int = 0) -> float:
    """The L2 setting of ``grid`` with the best held-out log-likelihood in ``folds``-fold cross-validation on the
    training patterns (the held-out half is never looked at)."""
    fold = np.random.default_rng(seed).permutation(len(patterns)) % folds
    scores = []
    for c in grid:
        scores.append(sum(log_likelihood(fit_patterns([p for p, f in zip(patterns, fold) if f != k], c),
                                         [p for p, f in zip(patterns, fold) if f == k]) for k in range(folds)))
    return grid[int(np.argmax(scores))]


def fit_patterns(patterns: list[tuple[np.ndarray, np.ndarray]], regularisation: float) -> ConfidenceModel:
    """Maximum likelihood of the conditional logit (``powdex.indexing.confidence``) on standardised features:
    each pattern's outcome is the set that holds the true cell, or none; an L2 penalty of
    ``1 / (2 regularisation)`` |w|² keeps separable data finite."""
    from scipy.optimize import minimize

    stacked = np.vstack([x for x, _ in patterns])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale[scale == 0] = 1.0
    patterns = [((x - mean) / scale, y) for x, y in patterns]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        value = 0.5 * float(w @ w) / regularisation
        gradient = np.append(w / regularisation, 0.0)
        for x, y in patterns:
            u = b + x @ w
            top = max(float(u.max(initial=0.0)), 0.0)
            e = np.exp(u - top)
            norm = np.exp(-top) + e.sum()
            p = e / norm
            value += top + np.log(norm) - float(u[y].sum())
            gradient[:-1] += p @ x - x[y].sum(axis=0)
            gradient[-1] += p.sum() - y.sum()
        return value, gradient

    theta = minimize(objective, np.zeros(stacked.shape[1] + 1), jac=True, method="L-BFGS-B").x
    return ConfidenceModel(mean, scale, theta[:-1], float(theta[-1]))


def top_predictions(model: ConfidenceModel, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The probability of each pattern's best candidate (its set) and whether it is right; a pattern with no
    candidate counts as predicted 0, wrong."""
    predicted, observed = [], []
    for row in rows:
        ranked = [Candidate.from_dict(c) for c in row["candidates"]]
        _, y, _ = pattern_rows(row)
        predicted.append(model.probabilities(ranked)[0] if ranked else 0.0)
        observed.append(bool(y[0]) if ranked else False)
    return np.array(predicted), np.array(observed)


def reliability(predicted: np.ndarray, observed: np.ndarray) -> list[tuple]:
    """(bin low, bin high, count, mean predicted, observed frequency) per probability decile with patterns."""
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(predicted, edges) - 1, 0, 9)
    return [(edges[b], edges[b + 1], int((which == b).sum()), float(predicted[which == b].mean()),
             float(observed[which == b].mean())) for b in range(10) if (which == b).any()]


def wilson_interval(frequency: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's (1927) 95 % interval of a frequency observed in ``count`` trials: how far a decile of few
    patterns can stray from its prediction by chance."""
    centre = (frequency + z**2 / (2 * count)) / (1 + z**2 / count)
    half = z * np.sqrt(frequency * (1 - frequency) / count + z**2 / (4 * count**2)) / (1 + z**2 / count)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def report(models: dict[str, ConfidenceModel], test: list[dict], console: Console, plot: Path | None) -> str:
    """Each model's reliability table, Brier score and held-out log-likelihood on the same held-out lists, per
    kind of list, and a reliability diagram with a panel per model (``plot``)."""
    lines = []
    curves: dict[str, dict[str, list[tuple]]] = {}
    for label, model in models.items():
        curves[label] = {}
        lines += [f"## {label}", ""]
        for kind in KINDS:
            sel = [r for r in test if r["kind"] == kind]
            if not sel:
                continue
            predicted, observed = top_predictions(model, sel)
            brier = float(np.mean((predicted - observed) ** 2))
            base = float(np.mean((observed.mean() - observed) ** 2))
            # Over every equivalent set, not only the best candidate: how well the model ranks the runners-up too.
            per_pattern = log_likelihood(model, set_rows(sel)) / len(sel)
            bins = reliability(predicted, observed)
            curves[label][kind] = bins
            table = Table(title=f"{label}, {kind}: {len(sel)} held-out patterns, best candidate right in "
                                f"{observed.mean():.0%}; Brier {brier:.4f} (constant {observed.mean():.2f}: {base:.4f}); "
                                f"log-likelihood {per_pattern:.3f} per pattern")
            for col in ("decile", "patterns", "mean predicted", "observed", "95% interval", "difference (points)"):
                table.add_column(col, justify="right")
            lines += [f"### {kind}: {len(sel)} held-out patterns", "",
                      f"Best candidate right in {observed.mean():.1%}; Brier score {brier:.4f} "
                      f"(always predicting the base rate: {base:.4f}); log-likelihood of the best-ranked set "
                      f"that holds the true lattice (or none) {per_pattern:.3f} nats per pattern.", "",
                      "| decile | patterns | mean predicted | observed | 95% interval | difference (points) |",
                      "|---|---|---|---|---|---|"]
            for low, high, count, mean_p, freq in bins:
                lo, hi = wilson_interval(freq, count)
                cells = (f"{low:.1f}–{high:.1f}", str(count), f"{mean_p:.3f}", f"{freq:.3f}", f"{lo:.2f}–{hi:.2f}",
                         f"{100 * (freq - mean_p):+.1f}")
                table.add_row(*cells)
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
            console.print(table)
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 5), squeeze=False)
        for ax, (label, by_kind) in zip(axes[0], curves.items()):
            ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
            ax.fill_between([0, 1], [-0.1, 0.9], [0.1, 1.1], color="grey", alpha=0.15, label="±10 points")
            for kind, bins in by_kind.items():
                ax.plot([b[3] for b in bins], [b[4] for b in bins], marker="o", label=kind)
                for b in bins:
                    ax.annotate(str(b[2]), (b[3], b[4]), textcoords="offset points", xytext=(4, -10), fontsize=7)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability (decile mean)",
                   ylabel="observed frequency: best cell right", title=f"{label}\nheld-out reliability (n per point)")
            ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        console.print(f"wrote {plot}")
    return "\n".join(lines)


def collection_summary(rows: list[dict]) -> str:
    """Per kind: lists, refused, best candidate right, searches the time limit ended, median CPU seconds (the
    last two where the rows record them)."""
    lines = ["| kind | lists | refused | best candidate right | ended by the time limit | median CPU s |",
             "|---|---|---|---|---|---|"]
    for kind in KINDS:
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        indexed = [r for r in sel if "error" not in r]
        timed = [r for r in indexed if "cut_off" in r]
        right = sum(r["correct"][:1] == [True] for r in indexed)
        cut = f"{sum(r['cut_off'] for r in timed)}/{len(timed)}" if timed else "not recorded"
        cpu = f"{np.median([r['cpu_seconds'] for r in timed]):.1f}" if timed else "not recorded"
        lines.append(f"| {kind} | {len(sel)} | {len(sel) - len(indexed)} | {right}/{len(indexed)} | {cut} | {cpu} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    collecting = sub.add_parser("collect", help="index held-out peak lists and keep their ranked candidates")
    collecting.add_argument("--cases", type=int, default=8, help="synthetic cases per Bravais lattice")
    collecting.add_argument("--cif", type=Path, nargs="*", help="real structures instead: CIFs, folders, wheels")
    collecting.add_argument("--hard-faults", action="store_true",
                            help=f"synthetic lists of {HARD_PEAKS} lines, 20 %% missing, 2θ noise 0.02–0.03°, an impurity "
                                 "line in each, zero shift up to ±0.08° in half (kind synthetic-hard)")
    collecting.add_argument("--variants", type=int, default=1, help="peak lists per real structure")
    collecting.add_argument("--time-limit", type=float, default=4.0, help="seconds per pattern")
    collecting.add_argument("--workers", type=int, default=2)
    judging = sub.add_parser("outcomes", help="how each real-structure list came out, and the first-rate on the "
                                              "lists positions can decide")
    judging.add_argument("--out", type=Path, required=True, help="one collected file")
    judging.add_argument("--cif", type=Path, nargs="*",
                         help="for rows that keep no peak list: the CIFs, --seed and --variants of their run")
    judging.add_argument("--seed", type=int)
    judging.add_argument("--variants", type=int, default=1)
    fitting = sub.add_parser("fit", help="fit on one half, report on the other")
    fitting.add_argument("--regularisation", type=float,
                         help="inverse L2 strength; default: chosen by 5-fold cross-validation on the fitted half")
    checking = sub.add_parser("check", help=f"the coefficients in {COEFFICIENTS.name} on every list of collections "
                                            "none of which they were fitted on")
    for p in (fitting, checking):
        p.add_argument("--plot", type=Path, help="reliability diagram (PNG)")
        p.add_argument("--markdown", type=Path, help="write the report's tables here")
        p.add_argument("--undecidable-subcells-right", action="store_true",
                       help="count a real-structure candidate right also when it is a sub-cell of the true lattice "
                            "that the list's positions cannot tell from it (the probability of the set)")
        p.add_argument("--out", type=Path, nargs="+", default=[Path("index_calibration.jsonl")],
                       help="the collected candidates (several files: their patterns together)")
    fitting.add_argument("--write-model", action="store_true", help=f"write the coefficients to {COEFFICIENTS}")
    for p in (collecting, fitting):
        p.add_argument("--seed", type=int, default=0)
    collecting.add_argument("--out", type=Path, default=Path("index_calibration.jsonl"))
    args = parser.parse_args()
    console = Console(width=140)
    if args.step == "collect":
        collect(args, console)
        return
    if args.step == "outcomes":
        outcomes(args, console)
        return
    rows = [row for path in args.out for row in read_rows(path)]
    if args.undecidable_subcells_right:
        rows = with_undecidable_subcells_right(rows)
    refused = [row for row in rows if "error" in row]
    if refused:
        console.print(f"left out: {len(refused)} peak lists the indexer refused (too few lines), e.g. "
                      f"{refused[0]['error']}")
    shipped = ConfidenceModel.from_dict(json.loads(COEFFICIENTS.read_text()))
    if args.step == "check":
        indexed = [row for row in rows if "error" not in row]
        text = report({f"the coefficients in {COEFFICIENTS.name}": shipped}, indexed, console, args.plot)
        if args.markdown is not None:
            args.markdown.write_text(f"# The candidate probability on new lists\n\n`{' '.join(sys.argv)}`\n\n"
                                     f"{collection_summary(rows)}\n\n{text}\n")
        return
    train, test = split([row for row in rows if "error" not in row], args.seed)
    patterns = set_rows(train)
    regularisation = args.regularisation or choose_regularisation(patterns, seed=args.seed)
    model = fit_patterns(patterns, regularisation)
    fitted = (f"Fitted on {len(train)} patterns ("
              + ", ".join(f"{k} {n}" for k in KINDS if (n := sum(r["kind"] == k for r in train))) + f"), regularisation "
              f"{regularisation:g}; weights on standardised features: "
              + ", ".join(f"{n} {w:+.2f}" for n, w in zip(FEATURES, model.weights))
              + f"; intercept {model.intercept:+.2f}.")
    console.print(fitted)
    # The coefficients this fit would replace, on the same held-out lists: a refit ships only if it does better.
    text = report({"this fit": model, f"the coefficients in {COEFFICIENTS.name} before this fit": shipped}, test,
                  console, args.plot)
    if args.markdown is not None:
        args.markdown.write_text(f"# Calibration of the candidate probability\n\n`{' '.join(sys.argv)}`\n\n"
                                 f"{collection_summary(rows)}\n\n{fitted}\n\n{text}\n")
    if args.write_model:
        counts = {k: sum(r["kind"] == k for r in train) for k in KINDS}
        COEFFICIENTS.write_text(json.dumps(model.to_dict(
            fitted_by="benchmarks/index_calibration.py fit", fitted_on=counts,
            date=datetime.now(UTC).date().isoformat()), indent=1) + "\n")
        console.print(f"wrote {COEFFICIENTS}")


if __name__ == "__main__":
    main()
