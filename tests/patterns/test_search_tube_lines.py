"""A faint Kβ shows only beside the strongest lines: it is still recognised as the tube's."""

import numpy as np

from powdex.crystal import Cell
from powdex.patterns import search_peaks
from powdex.patterns.radiation import tube_lines
from powdex.patterns.simulate import simulate_pattern


def test_a_kbeta_seen_beside_the_strongest_lines_only_is_set_aside():
    """Kβ at 0.5 % of Kα1 on simulated silicon: its replicas of the weaker lines are below the noise, so only
    3 of the 8 strongest lines show one, too few for "most" of them.  Counted against the lines whose replica
    could be seen, they make a tube line: the 3 and the echo Kα2 stripping made of one are set aside, and no
    pick is left that is not a silicon line."""
    a = 5.4311
    simulated = simulate_pattern(Cell(a, a, a), two_theta_range=(20, 80), seed=3, noise=0.01,
                                 tube_replicas=((tube_lines("Cu").k_beta, 0.005),))
    search = search_peaks(simulated.pattern, min_relative_height=0.0)
    assert sorted(pick.line for pick in search.set_aside) == ["Cu Kβ"] * 3 + ["Cu Kβ strip echo"]
    assert all(np.min(np.abs(simulated.line_two_theta - t)) < 0.03 for t in search.two_theta)
    assert any("set aside as tube lines" in note for note in search.notes)
