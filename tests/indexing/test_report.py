"""What a referee reads in a candidate's document: the reduced cell and the lines the cell leaves out."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell
from powdex.indexing import IndexingSearch, PeakListFaults, synthetic_peaks
from powdex.peaks import PeakList


def test_a_candidate_document_names_its_unindexed_line_and_its_reduced_cell():
    silicon = Cell(5.4312, 5.4312, 5.4312)
    clean = synthetic_peaks(silicon, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005),
                            np.random.default_rng(2))
    impurity = 0.5 * (clean.two_theta[4] + clean.two_theta[5])  # midway between two lines: no cF line there
    two_theta = np.sort(np.append(clean.two_theta, impurity))
    peaks = PeakList.from_values(two_theta, units="2theta", wavelength=clean.wavelength)
    search = IndexingSearch(peaks)
    cand = search.polished(BravaisLattice.cF, BravaisLattice.cF.axes.free_reciprocal_parameters(silicon))
    document = cand.to_dict()
    assert document["unindexed_peaks"] == [int(np.searchsorted(two_theta, impurity))]
    # The primitive rhombohedral cell of the F lattice: a/√2 = 3.8405 Å, 60°.
    assert document["reduced_cell"] == pytest.approx([3.8405, 3.8405, 3.8405, 60, 60, 60], abs=2e-3)


def test_formula_units_follow_the_18_cubic_angstrom_rule():
    from powdex.indexing import IndexingConfig, index
    from powdex.indexing.formula import formula_units

    # Baddeleyite, ZrO2 with Z = 4 in 140.9 Å³: 35 Å³ per atom, so the 18 Å³ rule says about 2.
    assert formula_units(140.9, "ZrO2") == pytest.approx(140.9 / 54)
    assert formula_units(100.0, "C6H12O6") == pytest.approx(100.0 / (18 * 12))
    with pytest.raises(ValueError, match="element symbols"):
        formula_units(100.0, "Ca(OH)2")
    peaks = synthetic_peaks(Cell(5.4312, 5.4312, 5.4312), BravaisLattice.cF, 12,
                            PeakListFaults(two_theta_noise=0.005), np.random.default_rng(2))
    result = index(peaks, config=IndexingConfig(systems="cubic", formula="Si", time_limit=10))
    assert any(n.startswith("candidate 1 (cF, V = 160.2 Å³): 8.90 formula units of Si") for n in result.notes)


def test_hofmann_volumes_sum_the_elements_hydrogen_included():
    from powdex.indexing.formula import formula_units_text, hofmann_volume

    # Ibuprofen C13H18O2: 13 × 13.87 + 18 × 5.08 + 2 × 11.39 Å³ (Hofmann 2002); its P21/c cell (1224.6 Å³)
    # holds 4 molecules.
    assert hofmann_volume("C13H18O2") == pytest.approx(294.53)
    assert hofmann_volume("C13D18O2") == pytest.approx(294.53)
    assert 1224.6 / hofmann_volume("C13H18O2") == pytest.approx(4, abs=0.2)
    assert "4.16 by Hofmann volumes (294.5 Å³ per formula unit)" in formula_units_text(1224.6, "C13H18O2")
    with pytest.raises(ValueError, match="no Hofmann volume for Ar, He"):
        hofmann_volume("HeAr")
    # The 18 Å³ rule still applies where Hofmann's table has no volume.
    assert formula_units_text(100.0, "XeF2").startswith("1.85 formula units of XeF2 at 18 Å³")
    assert "no Hofmann volume" not in formula_units_text(100.0, "XeF2")
    assert formula_units_text(100.0, "KrF2").endswith("(formula 'KrF2': no Hofmann volume for Kr)")
