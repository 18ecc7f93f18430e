"""The synthetic prior: minimum distances, special positions, the three components, lattice-system shares."""

import json
from itertools import product

import gemmi
import numpy as np
import pytest

from powdex.crystal import LatticeSystem
from powdex.optim.journal import JournalError
from powdex.training import build_synthetic
from powdex.training.errors import DatasetError
from powdex.training.spacegroups import COMPONENTS as COMPONENT_NAMES
from powdex.training.spacegroups import _read_frequency_table, space_group_weights, system_shares
from powdex.training.synthetic import (
    COMPONENTS,
    GENERATOR_VERSION,
    entry_rng,
    lattice_system_of_entry,
    random_cell,
    random_structure,
)

_IMAGES = np.array(list(product((-1, 0, 1), repeat=3)), dtype=float)


def _shortest_pair_distance(structure) -> float:
    x = structure.positions
    delta = x[:, None, :] - x[None, :, :]
    delta -= np.rint(delta)
    delta = delta[:, :, None, :] + _IMAGES
    distance = np.sqrt(np.einsum("abki,ij,abkj->abk", delta, structure.cell.metric_tensor, delta))
    distance[np.arange(len(x)), np.arange(len(x)), 13] = np.inf  # an atom and itself
    return float(distance.min())


@pytest.mark.parametrize(
    "setting, component",
    [("P 1 21/c 1", "organic"), ("P -1", "organic"), ("C 1 2/c 1", "organic"), ("F m -3 m", "inorganic"),
     ("P 63/m m c", "inorganic"), ("I 41/a m d:2", "inorganic"), ("R -3 m:H", "inorganic"), ("P n m a", "inorganic"), ("P 1", "inorganic"),
     ("P 63/m m c", "simple"), ("F d -3 m:2", "simple"), ("P 1", "simple")],
)
def test_no_two_atoms_closer_than_the_components_minimum_distance(setting, component):
    for i in range(12):  # P 1 with one or two atoms: an atom must also keep away from its own periodic images
        structure = random_structure(entry_rng(7, i), gemmi.SpaceGroup(setting), COMPONENTS[component])
        assert _shortest_pair_distance(structure) >= COMPONENTS[component].min_distance - 1e-9


def test_inorganic_component_gives_small_cubic_cells_on_special_positions():
    sg = gemmi.SpaceGroup("F m -3 m")
    structures = [random_structure(entry_rng(2, i), sg, COMPONENTS["inorganic"]) for i in range(40)]
    lengths = np.array([s.cell.parameters[0] for s in structures])
    assert np.mean(lengths < 6.5) > 0.25  # rock salt 5.6 Å, fluorite 5.5 Å, copper 3.6 Å
    # Atoms on special positions have orbits shorter than the 192 of the general position.
    assert np.mean([len(s.positions) < 192 for s in structures]) > 0.8


def test_simple_component_gives_the_few_atom_cells_of_elements_and_binary_compounds():
    # Magnesium (hP2, a = 3.21 Å), graphite and wurtzite (hP4, a = 2.46 and 3.25 Å): cells the other components
    # hardly ever draw, although a powder user meets them daily.
    sg = gemmi.SpaceGroup("P 63/m m c")
    simple = [random_structure(entry_rng(4, i), sg, COMPONENTS["simple"]) for i in range(40)]
    inorganic = [random_structure(entry_rng(4, i), sg, COMPONENTS["inorganic"]) for i in range(40)]
    assert np.median([len(s.positions) for s in simple]) <= 6 < 12 <= np.median([len(s.positions) for s in inorganic])
    assert np.mean([s.cell.parameters[0] < 4.0 for s in simple]) > 0.3
    assert np.mean([s.cell.parameters[0] < 4.0 for s in inorganic]) < 0.1


def test_frequency_table_unlisted_groups_share_the_rest_equally():
    listed = _read_frequency_table()
    weights = space_group_weights()
    assert weights.shape == (230, len(COMPONENT_NAMES)) and np.allclose(weights.sum(axis=0), 1)
    for c in range(len(COMPONENT_NAMES)):
        known = ~np.isnan(listed[:, c])
        assert np.allclose(weights[~known, c], weights[~known, c][0])
        assert np.allclose(weights[known, c] / weights[known, c].sum(), listed[known, c] / listed[known, c].sum())


def test_lattice_systems_follow_the_shares_exactly_in_every_prefix():
    shares = system_shares("cubic=0.2,hexagonal=0.1")
    systems = np.array([lattice_system_of_entry(3, i, shares) for i in range(3000)])
    for n in (200, 1000, 3000):
        for system, share in shares.items():
            assert abs(np.sum(systems[:n] == system) - n * share) <= 3, (n, system)
    assert abs(sum(shares.values()) - 1) < 1e-12 and shares["cubic"] == 0.2


def test_system_share_specifications():
    natural = system_shares("natural")
    assert set(natural) == {s.value for s in LatticeSystem} and np.isclose(sum(natural.values()), 1)
    assert natural["monoclinic"] > natural["cubic"] > 0.01  # the inorganic component brings cubic crystals
    assert system_shares("equal")["cubic"] == pytest.approx(1 / 7)
    rest = system_shares("cubic=0.5")
    assert rest["monoclinic"] / rest["triclinic"] == pytest.approx(natural["monoclinic"] / natural["triclinic"])
    for bad in ("cubic=0.7,hexagonal=0.5", "cubick=0.1", "cubic", "cubic=2"):
        with pytest.raises(DatasetError, match="system shares"):
            system_shares(bad)


def test_monoclinic_beta_is_redrawn_not_clipped():
    rng = np.random.default_rng(0)
    beta = np.array([random_cell(rng, LatticeSystem.MONOCLINIC, 100.0).parameters[4] for _ in range(2000)])
    assert np.all((beta >= 91) & (beta <= 135)) and not np.any(np.isclose(beta, 91.0))


def test_build_records_shares_and_version_and_refuses_a_different_resume(tmp_path):
    shares = system_shares("cubic=0.5")
    written = build_synthetic(tmp_path, 20, seed=1, shares=shares, workers=1, chunk_size=10)
    assert written["cubic"] == 10
    manifest = json.loads((tmp_path / "build.json").read_text())
    assert manifest["settings"]["system_shares.cubic"] == 0.5 and manifest["settings"]["generator_version"] == GENERATOR_VERSION
    with pytest.raises(JournalError, match="system_shares"):
        build_synthetic(tmp_path, 20, seed=1, shares=system_shares("natural"), workers=1, chunk_size=10)
    manifest["settings"]["generator_version"] = 1
    (tmp_path / "build.json").write_text(json.dumps(manifest))
    with pytest.raises(JournalError, match="generator_version"):
        build_synthetic(tmp_path, 20, seed=1, shares=shares, workers=1, chunk_size=10)


def test_a_build_from_before_the_journal_resumes_keeping_its_chunks(tmp_path):
    """Older builds kept the settings at the top of build.json and a marker per chunk: they are migrated."""
    shares = system_shares("cubic=0.5")
    build_synthetic(tmp_path, 20, seed=1, shares=shares, workers=1, chunk_size=10)
    manifest = json.loads((tmp_path / "build.json").read_text())
    records = sorted((tmp_path / "done").glob("*.json"))
    for record in records:  # the layout an older powdex wrote
        saved = json.loads(record.read_text())
        (tmp_path / "done" / f"chunk-{saved['chunk']:06d}").write_text(json.dumps({"stop": saved["stop"], "counts": saved["counts"]}))
        record.unlink()
    (tmp_path / "build.json").write_text(json.dumps({
        "generator_version": GENERATOR_VERSION, "seed": 1, "chunk_size": 10,
        "system_shares": {name.removeprefix("system_shares."): value for name, value in manifest["settings"].items()
                          if name.startswith("system_shares.")}}))
    written = build_synthetic(tmp_path, 30, seed=1, shares=shares, workers=1, chunk_size=99)
    assert sum(written.values()) == 10  # chunks 0 and 1 kept, chunk 2 (entries 20..29, chunk size 10) written
    assert json.loads((tmp_path / "build.json").read_text())["settings"] == manifest["settings"]
