"""parallel_map and its Journal: results as they arrive, resumable, versioned settings."""

import json

import pytest

from powdex.optim import InProcess, Journal, JournalError, LocalProcesses, parallel_map
from powdex.optim.journal import SCHEMA_VERSION


def cube(value: int) -> int:
    return value**3


def fail_on_four(value: int) -> int:
    if value == 4:
        raise RuntimeError("item 4 failed")
    return value


def word_count(path: str) -> dict:
    """What a series does per item: read a file, give a JSON document."""
    with open(path) as handle:
        return {"words": len(handle.read().split())}


def test_every_item_once_in_processes_as_in_process():
    here = dict(parallel_map(cube, range(20), executor=InProcess()))
    there = dict(parallel_map(cube, range(20), executor=LocalProcesses(2)))
    assert here == there == {value: value**3 for value in range(20)}


def test_a_rerun_skips_the_items_the_journal_holds_and_progress_counts_them(tmp_path):
    settings = {"power": 3, "mode": {"exact": True}}
    with pytest.raises(RuntimeError, match="item 4 failed"):
        for _ in parallel_map(fail_on_four, range(8), journal=Journal(tmp_path, settings)):
            pass
    journal = Journal(tmp_path, settings)
    assert journal.finished() == {str(value): value for value in range(4)}  # recorded before the failure
    progress = []
    rest = dict(parallel_map(cube, range(8), journal=journal, progress=lambda done, total: progress.append(done)))
    assert sorted(rest) == [4, 5, 6, 7] and progress == [4, 5, 6, 7, 8]
    assert len(journal.finished()) == 8


def test_a_new_option_at_its_default_keeps_finished_work_and_a_changed_one_is_refused(tmp_path):
    Journal(tmp_path, {"power": 3}, defaults={"power": 2}).record("a", 1)
    # A later version adds 'offset' with its default 0: the earlier work stays valid.
    later = Journal(tmp_path, {"power": 3, "offset": 0}, defaults={"power": 2, "offset": 0})
    assert later.finished() == {"a": 1}
    with pytest.raises(JournalError, match=r"holds work done with other settings \(offset was its default, now 5\); use another"):
        Journal(tmp_path, {"power": 3, "offset": 5}, defaults={"power": 2, "offset": 0})
    restarted = Journal(tmp_path, {"power": 4}, defaults={"power": 2}, restart=True)
    assert restarted.finished() == {}


def test_a_journal_of_a_newer_schema_is_refused(tmp_path):
    Journal(tmp_path, {"power": 3})
    manifest = json.loads((tmp_path / "journal.json").read_text())
    (tmp_path / "journal.json").write_text(json.dumps({**manifest, "schema": SCHEMA_VERSION + 1}))
    with pytest.raises(JournalError, match="written by a newer powdex"):
        Journal(tmp_path, {"power": 3})


def test_files_as_items_with_a_document_per_file_as_a_series_runs(tmp_path):
    files = []
    for i, text in enumerate(["a b", "c d e", "f", "odd / name?"]):
        files.append(tmp_path / f"pattern {i}?.txt")
        files[-1].write_text(text)
    out = tmp_path / "out"
    journal = Journal(out, {"method": "count"})
    first = dict(parallel_map(word_count, map(str, files[:2]), executor=LocalProcesses(2), journal=journal))
    assert first == {str(files[0]): {"words": 2}, str(files[1]): {"words": 3}}
    rest = dict(parallel_map(word_count, map(str, files), journal=Journal(out, {"method": "count"})))
    assert sorted(rest) == sorted(map(str, files[2:]))
    assert Journal(out, {"method": "count"}).finished()[str(files[3])] == {"words": 3}


def test_no_item_starts_after_the_time_limit(tmp_path):
    assert list(parallel_map(cube, range(5), time_limit=0.0)) == []


def stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".txt")


def test_records_beside_the_manifest_are_the_result_documents(tmp_path):
    """A series keeps one <pattern>.json per pattern in its output folder: those can be the journal's records."""
    files = [tmp_path / f"glycine_{i}.txt" for i in range(3)]
    for path in files:
        path.write_text("1 2 3")
    out = tmp_path / "out"
    journal = Journal(out, {"method": "count"}, manifest="series.json", records=".")
    list(parallel_map(word_count, map(str, files[:2]), journal=journal, key=stem))
    assert sorted(path.name for path in out.iterdir()) == ["glycine_0.json", "glycine_1.json", "series.json"]
    journal = Journal(out, {"method": "count"}, manifest="series.json", records=".")
    assert journal.finished() == {"glycine_0": {"words": 3}, "glycine_1": {"words": 3}}
    assert [item for item, _ in parallel_map(word_count, map(str, files), journal=journal, key=stem)] == [str(files[2])]
