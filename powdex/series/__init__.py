"""A series of peak lists indexed into one folder, resumable: ``index_series``.

Each pattern's result goes to ``OUT/<name>.json`` (``IndexingResult.save``) as
soon as it is done; ``OUT/summary.csv`` (the best cell of every pattern, in
input order) and ``OUT/series.png`` (cell parameters along the series) are
rewritten as results arrive. The patterns go through ``powdex.optim.parallel_map``
with the folder as its journal (``SeriesJournal``: the results are the records,
``OUT/.series.json`` the manifest of settings). A rerun with the same settings skips
the patterns already written: a result is kept when its settings fingerprint
(``powdex.indexing.settings_fingerprint``: the settings that differ from their
defaults, how the files are read, and a schema version) matches, so a setting
added to powdex later with its default keeps finished work. Every pattern is
indexed with the same seed, so its ranking does not depend on the order or the
number of worker processes.

Two runs on the same folder share the work: a pattern is indexed only by the
run holding its lock file (``OUT/.<name>.lock``, created exclusively, holding
the owner's PID; a dead owner's lock is taken over), and the other run leaves
it and reads its result at the end.
"""

from powdex.series.runner import PatternLock, SeriesJournal, SeriesResult, index_series, load_finished

__all__ = ["PatternLock", "SeriesJournal", "SeriesResult", "index_series", "load_finished"]
