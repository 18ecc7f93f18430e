"""The results store: every local run, written as it completes.

SQLite file by default, any SQLAlchemy URL (PostgreSQL...) when given.  Runs
are keyed by (study, run index), which is what lets an interrupted ensemble
resume: the driver skips indices already stored.  Only the driving process
writes, so SQLite's single-writer rule is never a bottleneck.  Two drivers
running the same study at once both end cleanly: runs are deterministic, so
a run the other driver stored first is simply not written again, and a
study's best is only ever replaced by a better run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from powdex.optim.errors import ConfigError, StoreError
from powdex.optim.result import STATUS_OUT_OF_BOUNDS, LocalResult

EXPORT_FORMATS = (".csv", ".parquet")


class _Base(DeclarativeBase):
    pass


class StudyRow(_Base):
    __tablename__ = "optim_studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    objective: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    strategy: Mapped[str] = mapped_column(Text)
    best_run_index: Mapped[int | None]
    best_value: Mapped[float | None] = mapped_column(Float)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(_Base):
    __tablename__ = "optim_runs"

    study_id: Mapped[int] = mapped_column(ForeignKey("optim_studies.id"), primary_key=True)
    run_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    sense: Mapped[str] = mapped_column(String(3))
    start: Mapped[str] = mapped_column(Text)
    x: Mapped[str] = mapped_column(Text)
    # NULL when the objective returned NaN (SQL has no NaN).
    value: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    nit: Mapped[int]
    nfev: Mapped[int]
    status: Mapped[int]
    success: Mapped[bool]
    message: Mapped[str] = mapped_column(Text)
    wall_time: Mapped[float] = mapped_column(Float)
    # Visited points as little-endian float64 rows (x..., value).
    path: Mapped[bytes] = mapped_column(LargeBinary)
    finished: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _url(location: str | Path) -> str:
    location = str(location)
    if "://" in location:
        return location
    folder = Path(location).parent
    if not folder.is_dir():
        raise StoreError(f"store {location}: directory {folder} does not exist")
    return f"sqlite:///{location}"


def _shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return url


def _reason(error: Exception) -> str:
    """The driver's own first line (SQLAlchemy adds the statement and a link)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL with synchronous=NORMAL keeps a commit per run well under a
    # millisecond while staying crash-safe for committed runs.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_tables(engine) -> None:
    """The store's tables, where missing, one at a time.  Creating looks, then creates: two drivers opening one new
    store at once can both see no table, and the slower one's CREATE fails ("table ... already exists").  A table
    the other made is what was wanted; any other failure is raised.  (One second pass of ``create_all`` was not
    enough: with two tables the drivers could collide on the first and then again on the second.)"""
    for table in _Base.metadata.sorted_tables:
        try:
            table.create(engine, checkfirst=True)
        except SQLAlchemyError:
            if not inspect(engine).has_table(table.name):
                raise


def _nullable(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class ResultsStore:
    """A database of studies (ensembles) and their local runs."""

    def __init__(self, location: str | Path = "powdex-optim.sqlite"):
        """Open (creating tables as needed) the store at an SQLite path or a
        SQLAlchemy URL; :class:`StoreError` when that cannot be done."""
        self.url = _url(location)
        try:
            self._engine = create_engine(self.url)
            if self._engine.dialect.name == "sqlite":
                event.listen(self._engine, "connect", _sqlite_pragmas)
            _create_tables(self._engine)
            # One connection for the writer's lifetime: checking one out per run
            # would cost more than the insert itself.
            self._conn = self._engine.connect()
        except (SQLAlchemyError, ImportError) as error:
            raise StoreError(f"store {_shown(self.url)}: cannot open ({_reason(error)})") from None
        self._study_ids: dict[str, int] = {}
        self._dims: dict[str, int] = {}

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open_study(self, name: str, objective: str, dim: int, strategy_json: str, fingerprint: str) -> None:
        """Create study ``name``, or check that the stored one was made the same
        way: ``fingerprint`` identifies the objective and the strategy."""
        row = self._conn.execute(select(StudyRow).where(StudyRow.name == name)).first()
        if row is None:
            try:
                self._conn.execute(insert(StudyRow).values(
                    name=name, objective=objective, dim=dim, fingerprint=fingerprint,
                    strategy=strategy_json, created=datetime.now(UTC),
                ))
                self._conn.commit()
            except IntegrityError:  # another driver created it a moment ago
                self._conn.rollback()
            except BaseException:
                self._abandon()
                raise
            row = self._conn.execute(select(StudyRow).where(StudyRow.name == name)).one()
        if (row.objective, row.dim, row.fingerprint) != (objective, dim, fingerprint):
            raise ConfigError(
                f"study '{name}' in {self.url} was made by another objective or other settings "
                "(function name or key, dimension, bounds, start point, strategy); choose another study name"
            )
        self._study_ids[name] = row.id
        self._dims[name] = row.dim

    def _study_id(self, study: str) -> int:
        if study not in self._study_ids:
            row = self._conn.execute(select(StudyRow.id, StudyRow.dim).where(StudyRow.name == study)).first()
            if row is None:
                raise KeyError(f"no study '{study}' in {self.url}; known: {', '.join(self.studies())}")
            self._study_ids[study], self._dims[study] = row
        return self._study_ids[study]

    def studies(self) -> list[str]:
        return list(self._conn.execute(select(StudyRow.name).order_by(StudyRow.id)).scalars())

    def add(self, study: str, results: Sequence[LocalResult], best: LocalResult | None = None) -> None:
        """Write runs the driver has just received, and ``best`` as the study's
        new best run, in one commit: an interruption keeps all of them, and
        the commit's cost is shared."""
        study_id = self._study_id(study)
        rows = [{
            "study_id": study_id, "run_index": r.run_index, "sense": r.sense,
            "start": json.dumps(r.start.tolist()), "x": json.dumps(r.x.tolist()),
            "value": _nullable(r.value), "grad_norm": _nullable(r.grad_norm),
            "nit": r.nit, "nfev": r.nfev, "status": r.status, "success": r.success,
            "message": r.message, "wall_time": r.wall_time,
            "path": r.path.astype("<f8").tobytes(), "finished": datetime.now(UTC),
        } for r in results]
        try:
            # A plain table insert with bound parameters compiles once and is cached;
            # building a fresh ORM ``insert().values()`` per run would double the cost.
            try:
                self._conn.execute(RunRow.__table__.insert(), rows)
            except IntegrityError:
                # Another driver on the same study stored some of these runs first;
                # they are the same runs (same seed, same index), so keep theirs.
                self._conn.rollback()
                stored = set(self._conn.execute(
                    select(RunRow.run_index).where(RunRow.study_id == study_id,
                                                   RunRow.run_index.in_([r["run_index"] for r in rows]))
                ).scalars())
                rows = [r for r in rows if r["run_index"] not in stored]
                if rows:
                    self._conn.execute(RunRow.__table__.insert(), rows)
            if best is not None and best.admissible:
                # Only a better run replaces the marked best (ties: the lower run index),
                # which keeps the mark right when several drivers write one study.
                better = StudyRow.best_value > best.value if best.sense == "min" else StudyRow.best_value < best.value
                self._conn.execute(
                    update(StudyRow)
                    .where(StudyRow.id == study_id, or_(
                        StudyRow.best_value.is_(None), better,
                        and_(StudyRow.best_value == best.value, StudyRow.best_run_index > best.run_index),
                    ))
                    .values(best_run_index=best.run_index, best_value=float(best.value))
                )
            self._conn.commit()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Roll back a write cut short by any exception, a Ctrl-C above all (the command line raises it at once
        while an ensemble runs): the connection, left mid-transaction, would refuse every later query, the one
        that counts what was kept for the message included.  The runs of the write are redone on resume."""
        self._conn.rollback()

    def study_best(self, study: str) -> tuple[int | None, float | None]:
        """The best run as marked while the ensemble ran: (run index, value)."""
        row = self._conn.execute(
            select(StudyRow.best_run_index, StudyRow.best_value).where(StudyRow.id == self._study_id(study))
        ).one()
        return row.best_run_index, row.best_value

    def _to_result(self, study: str, row) -> LocalResult:
        return LocalResult(
            start=np.array(json.loads(row.start)), x=np.array(json.loads(row.x)),
            value=np.nan if row.value is None else row.value,
            grad_norm=np.nan if row.grad_norm is None else row.grad_norm,
            nit=row.nit, nfev=row.nfev, status=row.status, success=row.success, message=row.message,
            wall_time=row.wall_time,
            path=np.frombuffer(row.path, dtype="<f8").reshape(-1, self._dims[study] + 1),
            run_index=row.run_index, sense=row.sense,
        )

    def results(self, study: str) -> list[LocalResult]:
        """All stored runs of ``study`` in run-index order."""
        rows = self._conn.execute(
            select(RunRow).where(RunRow.study_id == self._study_id(study)).order_by(RunRow.run_index)
        )
        return [self._to_result(study, row) for row in rows]

    def count(self, study: str) -> int:
        """Runs stored for ``study``."""
        return self._conn.execute(
            select(func.count()).select_from(RunRow).where(RunRow.study_id == self._study_id(study))
        ).scalar_one()

    def best(self, study: str, n: int = 1, sense: str = "min") -> list[LocalResult]:
        """The ``n`` best runs of one sense: lowest minima or highest maxima
        (runs without a finite value or outside the bounds are no answers)."""
        if sense not in ("min", "max"):
            raise ValueError(f"best: sense must be 'min' or 'max', got {sense!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"best: n must be a positive integer, got {n!r}")
        order = RunRow.value.asc() if sense == "min" else RunRow.value.desc()
        rows = self._conn.execute(
            select(RunRow)
            .where(RunRow.study_id == self._study_id(study), RunRow.sense == sense, RunRow.value.is_not(None),
                   RunRow.status != STATUS_OUT_OF_BOUNDS)
            .order_by(order, RunRow.run_index).limit(n)
        )
        return [self._to_result(study, row) for row in rows]

    def export(self, study: str, path: str | Path) -> Path:
        """Write the runs of ``study`` to ``.csv`` or ``.parquet``, one column per
        parameter (``x_0``..., ``start_0``...); visited paths stay in the store."""
        path = Path(path)
        results = self.results(study)
        dim = self._dims[study]
        columns = {
            "run_index": [r.run_index for r in results],
            "sense": [r.sense for r in results],
            "value": [r.value for r in results],
            **{f"x_{i}": [r.x[i] for r in results] for i in range(dim)},
            **{f"start_{i}": [r.start[i] for r in results] for i in range(dim)},
            "grad_norm": [r.grad_norm for r in results],
            "nit": [r.nit for r in results],
            "nfev": [r.nfev for r in results],
            "status": [r.status for r in results],
            "success": [r.success for r in results],
            "message": [r.message for r in results],
            "wall_time": [r.wall_time for r in results],
        }
        table = pa.table(columns)
        if path.suffix == ".csv":
            pyarrow.csv.write_csv(table, path)
        elif path.suffix == ".parquet":
            pyarrow.parquet.write_table(table, path)
        else:
            raise ValueError(f"export: unknown format '{path.suffix}'; use {' or '.join(EXPORT_FORMATS)}")
        return path
