"""A folder that remembers finished work, so that an interrupted job resumes:
one manifest (schema version, the job's settings and their fingerprint) and
one record per finished item, each written atomically (a new file renamed
into place), so a killed driver leaves whole records or none.

The fingerprint covers only the settings that differ from their defaults
(nested tables compared option by option, as dotted names): a new option
added later WITH its default leaves the fingerprint, and so all finished
work, valid.  Work done with other settings is refused, naming the settings
that differ, rather than mixed in (or, where asked, thrown away).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from powdex.errors import PowdexError
from powdex.files import write_atomically

SCHEMA_VERSION = 1


class JournalError(PowdexError, ValueError):
    """A journal folder that holds other work, or a newer schema; one line naming the folder."""


def fingerprint(settings: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    """SHA-256 of the settings that differ from ``defaults``, in canonical JSON."""
    return hashlib.sha256(json.dumps(significant(settings, defaults), sort_keys=True).encode()).hexdigest()


def significant(settings: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings as dotted names (``variance.cycles``) with JSON values, without those equal to their default."""
    settings = _dotted(json.loads(json.dumps(settings)))
    defaults = _dotted(json.loads(json.dumps(defaults or {})))
    return {name: value for name, value in settings.items() if name not in defaults or defaults[name] != value}


def _dotted(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in table.items():
        if isinstance(value, dict) and value:
            flat.update(_dotted(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat



class Journal:
    """The manifest ``folder/<manifest>`` and records ``folder/<records>/<key>.json``.

    Opening a folder with a manifest checks it: same fingerprint, or
    ``JournalError`` (``restart=True``: the finished records are deleted and
    the work starts over with the new settings).  ``notes`` are kept from the
    first run and not compared (say, a chunk size the rerun must reuse).  Keys
    are any strings (escaped into file names); records are any JSON value.
    ``records="."`` keeps the records beside the manifest.

    Records that carry their own settings (a series' result documents, each
    with its settings fingerprint) make a subclass that sets
    ``records_carry_settings`` and overrides ``accepts``: a manifest of other
    settings is then replaced, not refused, and only the records ``accepts``
    count as finished (those of other settings are redone and overwritten).
    ``record_path`` and ``key_of`` name a record's file.
    """

    records_carry_settings = False

    def __init__(self, folder: str | Path, settings: dict[str, Any], *, defaults: dict[str, Any] | None = None,
                 notes: dict[str, Any] | None = None, manifest: str = "journal.json", records: str = "records",
                 restart: bool = False):
        self.folder = Path(folder)
        self.records_folder = self.folder / records
        self.settings = significant(settings, defaults)
        self.fingerprint = fingerprint(settings, defaults)
        path = self.manifest_path = self.folder / manifest
        saved = self._read(path) if path.exists() else None
        if saved is not None and saved.get("schema", 0) > SCHEMA_VERSION:
            raise JournalError(f"{path}: written by a newer powdex (journal schema {saved['schema']}, this one "
                               f"reads {SCHEMA_VERSION}); use that version or another folder")
        if saved is not None and (saved.get("fingerprint") != self.fingerprint or saved.get("settings") != self.settings):
            if self.records_carry_settings:
                saved = None
            elif not restart:
                raise JournalError(f"{self.folder} holds work done with other settings "
                                   f"({_differences(saved.get('settings', {}), self.settings)}); use another folder")
            else:
                for record in self.records_folder.glob("*.json"):
                    if record != self.manifest_path:
                        record.unlink()
                saved = None
        if saved is not None:
            self.notes = saved.get("notes", {})
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.notes = notes or {}
            write_atomically(path, json.dumps({"schema": SCHEMA_VERSION, "fingerprint": self.fingerprint,
                                               "settings": self.settings, "notes": self.notes}, indent=1))
        self.records_folder.mkdir(exist_ok=True)

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            saved = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise JournalError(f"{path}: not a readable journal manifest ({error})") from None
        if not isinstance(saved, dict):
            raise JournalError(f"{path}: not a journal manifest")
        return saved

    def record_path(self, key: str) -> Path:
        return self.records_folder / f"{quote(key, safe='')}.json"

    def key_of(self, path: Path) -> str:
        return unquote(path.name.removesuffix(".json"))

    def accepts(self, key: str, record: Any) -> bool:
        """Whether a record read back counts as finished work (see the class docstring)."""
        return True

    def finished(self) -> dict[str, Any]:
        """The records of finished items, by key (a record that cannot be read counts as unfinished)."""
        found = {}
        for path in self.records_folder.glob("*.json"):
            if path == self.manifest_path:
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            key = self.key_of(path)
            if self.accepts(key, record):
                found[key] = record
        return found

    def record(self, key: str, value: Any) -> None:
        write_atomically(self.record_path(key), json.dumps(value, indent=1))


def _differences(saved: dict, wanted: dict) -> str:
    names = sorted(set(saved) | set(wanted), key=str)
    return "; ".join(f"{name} was {_shown(saved.get(name, 'its default'))}, now {_shown(wanted.get(name, 'its default'))}"
                     for name in names if saved.get(name) != wanted.get(name))


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
