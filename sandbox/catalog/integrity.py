"""Snapshot integrity: a size and SHA-256 per file, recorded in the manifest at build time, checked when opened.

A snapshot is a folder of files that users copy, sync and keep for months; a truncated copy or a stray edit must
fail with one :class:`DamagedSnapshotError` naming the file and the fix, not with a ``sqlite3`` or tantivy error
deep inside a search (or, worse, quietly serve different products under the same snapshot id). The manifest
carries a ``files`` table (relative path -> size, sha256) and a ``seal``: the SHA-256 of the manifest's own
canonical JSON, so an edited ``snapshot_id`` or count is caught too. The seal guards against accidents, not an
attacker (who could recompute it).

Opening runs the cheap part (:func:`check_on_open`): every recorded file exists with its recorded size, and the
smallest files are hashed up to a byte budget (index metadata, small segments), once per process for an
unchanged folder. ``prgym catalog verify`` runs everything (:func:`verify_snapshot`): every checksum, SQLite's
own check, every stored product record, the recomputed snapshot id and the lexical index.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from sandbox.catalog.errors import REBUILD_HINT, DamagedSnapshotError

#: Files a snapshot holds that are not part of its content: the manifest itself, the build's reject list
#: (a report, not needed to serve) and the lock files tantivy creates when an index is opened.
UNTRACKED_NAMES = frozenset({"manifest.json", "manifest.tmp", "rejects.jsonl"})
UNTRACKED_SUFFIXES = (".lock",)
#: Directories left by an interrupted build (staging and replaced copies), never part of a finished snapshot.
UNTRACKED_DIR_SUFFIXES = (".building", ".old")

#: How many bytes opening a snapshot hashes (smallest files first); the rest are checked by size only. 128 MiB
#: covers every file of the ~134k-product shared catalog (~0.1 s once per process, warm); larger catalogs have
#: their biggest files size-checked at open and fully checked by ``prgym catalog verify``. The environment
#: variable ``PRGYM_SNAPSHOT_HASH_MB`` overrides it (0: sizes only).
OPEN_HASH_BUDGET_BYTES = 128 * 1024 * 1024
HASH_BUDGET_ENV = "PRGYM_SNAPSHOT_HASH_MB"

_CHUNK = 1 << 20


class FileEntry(BaseModel):
    """One recorded file: its size in bytes and the hex SHA-256 of its content."""

    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Problem(BaseModel):
    """One thing wrong with a snapshot: the file (relative to the snapshot) and what is wrong with it."""

    file: str
    problem: str

    @field_validator("problem")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())  # engines report over several lines; a report has one line per problem

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


def sha256_file(path: Path) -> str:
    """The file's sha256 hex digest, read in 1 MiB chunks (``hashlib.file_digest`` needs Python 3.11)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tracked(rel: Path) -> bool:
    if any(part.endswith(UNTRACKED_DIR_SUFFIXES) for part in rel.parts[:-1]):
        return False
    return rel.name not in UNTRACKED_NAMES and not rel.name.endswith(UNTRACKED_SUFFIXES)


def content_files(directory: Path, under: str | None = None) -> list[str]:
    """Relative POSIX paths of the content files in ``directory`` (or its subfolder ``under``), sorted."""
    root = directory / under if under else directory
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.endswith(UNTRACKED_DIR_SUFFIXES)]
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(directory)
            if _tracked(rel):
                found.append(rel.as_posix())
    return sorted(found)


def record_files(directory: Path, under: str | None = None) -> dict[str, FileEntry]:
    """Size and checksum of every content file (of ``under`` only, when given), for the manifest."""
    return {
        rel: FileEntry(size=(directory / rel).stat().st_size, sha256=sha256_file(directory / rel))
        for rel in content_files(directory, under)
    }


def manifest_seal(raw: dict[str, Any]) -> str:
    """SHA-256 over the manifest's canonical JSON without its ``seal`` key."""
    body = {key: value for key, value in raw.items() if key != "seal"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def damaged(directory: Path, problem: Problem) -> DamagedSnapshotError:
    return DamagedSnapshotError(
        f"catalog snapshot {directory} is damaged: {problem}",
        hint=f"{REBUILD_HINT} (`prgym catalog verify --catalog {directory}` lists every problem)",
    )


def seal_problem(raw: dict[str, Any]) -> Problem | None:
    """Why the manifest's seal does not match its content (None when it does, or when it has no seal)."""
    seal = raw.get("seal")
    if seal is None:
        return None
    if seal != manifest_seal(raw):
        return Problem(
            file="manifest.json",
            problem="edited after the build (its seal does not match its content: snapshot_id, counts or the "
            "file table were changed)",
        )
    return None


def _size_problem(directory: Path, rel: str, entry: FileEntry) -> Problem | None:
    try:
        size = (directory / rel).stat().st_size
    except FileNotFoundError:
        return Problem(file=rel, problem="missing")
    except OSError as exc:
        return Problem(file=rel, problem=f"cannot be read ({exc.strerror or exc})")
    if size != entry.size:
        cut = " (truncated)" if size < entry.size else ""
        return Problem(file=rel, problem=f"is {size:,} bytes, the build wrote {entry.size:,}{cut}")
    return None


def _hash_problem(directory: Path, rel: str, entry: FileEntry) -> Problem | None:
    try:
        digest = sha256_file(directory / rel)
    except OSError as exc:
        return Problem(file=rel, problem=f"cannot be read ({exc.strerror or exc})")
    if digest != entry.sha256:
        return Problem(file=rel, problem="content changed since the build (SHA-256 does not match)")
    return None


def file_problems(
    directory: Path, files: dict[str, FileEntry], hash_budget: int | None = None
) -> tuple[list[Problem], int]:
    """Problems with the recorded files, and how many bytes were hashed.

    Every file is checked for existence and size; then files are hashed smallest first while the running total
    stays within ``hash_budget`` bytes (None: all of them).
    """
    problems: list[Problem] = []
    bad: set[str] = set()
    for folder in sorted({rel.split("/", 1)[0] for rel in files if "/" in rel}):
        if not (directory / folder).is_dir():  # one line for a whole missing folder, not one per file
            problems.append(Problem(file=folder + "/", problem="missing (the whole folder)"))
            bad.update(rel for rel in files if rel.startswith(folder + "/"))
    for rel, entry in files.items():
        if rel not in bad and (problem := _size_problem(directory, rel, entry)):
            problems.append(problem)
            bad.add(rel)
    hashed = 0
    for rel, entry in sorted(files.items(), key=lambda item: (item[1].size, item[0])):
        if rel in bad:
            continue
        if hash_budget is not None and hashed + entry.size > hash_budget:
            break
        hashed += entry.size
        if problem := _hash_problem(directory, rel, entry):
            problems.append(problem)
    return problems, hashed


_checked: set[tuple[Any, ...]] = set()
_checked_lock = threading.Lock()


def _fingerprint(directory: Path, seal: str, files: dict[str, FileEntry]) -> tuple[Any, ...]:
    """What must be unchanged for an earlier successful check to still hold: the seal and every file's stat."""
    stats = []
    for rel in files:
        try:
            st = (directory / rel).stat()
        except OSError:
            return ()
        stats.append((rel, st.st_size, st.st_mtime_ns, st.st_ino))
    return (str(directory.resolve()), seal, tuple(stats))


def open_hash_budget() -> int:
    """The byte budget for hashing at open: ``PRGYM_SNAPSHOT_HASH_MB`` when set, else the default."""
    raw = os.environ.get(HASH_BUDGET_ENV, "").strip()
    if not raw:
        return OPEN_HASH_BUDGET_BYTES
    try:
        megabytes = float(raw)
    except ValueError:
        from sandbox.errors import UserError

        raise UserError(
            f"{HASH_BUDGET_ENV}={raw!r} is not a number of megabytes (0: check sizes only)"
        ) from None
    return max(0, int(megabytes * 1024 * 1024))


def check_on_open(directory: Path, raw: dict[str, Any], files: dict[str, FileEntry]) -> None:
    """The cheap checks run whenever a snapshot is opened; raises one :class:`DamagedSnapshotError`.

    Skipped for manifests written before checksums were recorded (no ``files``): those open as before.
    """
    problem = seal_problem(raw)
    if problem is not None:
        raise damaged(directory, problem)
    if not files:
        return
    key = _fingerprint(directory, str(raw.get("seal")), files)
    if key and key in _checked:
        return
    problems, _ = file_problems(directory, files, open_hash_budget())
    if problems:
        raise damaged(directory, problems[0])
    if key:
        with _checked_lock:
            _checked.add(key)


class VerifyReport(BaseModel):
    """What ``prgym catalog verify`` found: ``ok`` when there is no problem."""

    snapshot: str
    snapshot_id: str | None = None
    ok: bool
    problems: list[Problem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    files_checked: int = 0
    bytes_hashed: int = 0
    products_checked: int = 0
    seconds: float = 0.0


def verify_snapshot(directory: Path | str) -> VerifyReport:
    """Every check there is, collecting all problems instead of stopping at the first."""
    from sandbox.catalog.errors import SnapshotError
    from sandbox.catalog.snapshot import MANIFEST_FILENAME, read_manifest_raw, validate_manifest

    started = time.perf_counter()
    directory = Path(directory)
    report = VerifyReport(snapshot=str(directory), ok=False)

    def finish() -> VerifyReport:
        report.ok = not report.problems
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    try:
        raw = read_manifest_raw(directory)
        manifest = validate_manifest(directory, raw)
    except SnapshotError as exc:
        report.problems.append(Problem(file=MANIFEST_FILENAME, problem=exc.one_line()))
        return finish()
    report.snapshot_id = manifest.snapshot_id
    if (problem := seal_problem(raw)) is not None:
        report.problems.append(problem)
    if not manifest.files:
        report.warnings.append(
            "no file checksums recorded (built by an older prgym); rebuild it to make it verifiable"
        )
    problems, hashed = file_problems(directory, manifest.files)
    report.problems.extend(problems)
    report.files_checked, report.bytes_hashed = len(manifest.files), hashed
    for rel in content_files(directory):
        if manifest.files and rel not in manifest.files:
            report.warnings.append(f"{rel}: not written by the build (not checked)")
    report.problems.extend(_store_problems(directory, manifest, report))
    if not any(p.file.startswith("lexical/") for p in problems):  # a missing file is reported once
        report.problems.extend(_lexical_problems(directory, manifest.n_products))
    return finish()


def _record_problem(product_id: str, doc: str) -> str | None:
    """Why a stored record does not load as the product it is filed under (None when it does)."""
    from pydantic import ValidationError

    from sandbox.catalog.product import Product

    try:
        product = Product.model_validate_json(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        return f"{'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}"
    if product.product_id != product_id:
        return f"the record says it is {product.product_id!r}"
    return None


_SHOWN_RECORDS = 5


def _store_problems(directory: Path, manifest: Any, report: VerifyReport) -> list[Problem]:
    """SQLite's quick_check, the product count, every stored record and the recomputed snapshot id."""
    import sqlite3

    from sandbox.catalog.snapshot import content_id
    from sandbox.catalog.store import STORE_FILENAME

    path = directory / STORE_FILENAME
    if not path.is_file():
        return [] if STORE_FILENAME in manifest.files else [Problem(file=STORE_FILENAME, problem="missing")]
    problems: list[Problem] = []
    damaged_rows = 0
    count = 0

    def rows(cursor: sqlite3.Cursor):
        nonlocal damaged_rows, count
        for ord_, product_id, doc in cursor:
            reason = _record_problem(product_id, doc)
            if reason is None and ord_ != count:
                reason = f"ordinal {ord_} where {count} was expected"
            if reason is not None:
                damaged_rows += 1
                if damaged_rows <= _SHOWN_RECORDS:
                    problems.append(
                        Problem(
                            file=STORE_FILENAME, problem=f"record of {product_id!r} is damaged ({reason})"
                        )
                    )
            count += 1
            yield product_id, doc

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            check = db.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                shown = "; ".join(str(r[0]) for r in check[:3])
                return [Problem(file=STORE_FILENAME, problem=f"SQLite check failed ({shown})")]
            recomputed = content_id(
                rows(db.execute("SELECT ord, product_id, doc FROM products ORDER BY ord"))
            )
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [Problem(file=STORE_FILENAME, problem=f"not a readable product store ({exc})")]
    report.products_checked = count
    if damaged_rows > _SHOWN_RECORDS:
        problems.append(Problem(file=STORE_FILENAME, problem=f"{damaged_rows:,} damaged records in all"))
    if count != manifest.n_products:
        problems.append(
            Problem(
                file=STORE_FILENAME,
                problem=f"holds {count:,} products, the manifest says {manifest.n_products:,}",
            )
        )
    if recomputed != manifest.snapshot_id:
        problems.append(
            Problem(
                file="manifest.json",
                problem=f"snapshot_id {manifest.snapshot_id} does not match the stored products ({recomputed})",
            )
        )
    return problems


def _lexical_problems(directory: Path, n_products: int) -> list[Problem]:
    """The tantivy index opens and holds one document per product."""
    from sandbox.catalog.errors import SnapshotError
    from sandbox.catalog.lexical import LEXICAL_DIRNAME, open_lexical_index

    try:
        index = open_lexical_index(directory)
        searcher = index.searcher()
    except SnapshotError as exc:
        return [Problem(file=LEXICAL_DIRNAME + "/", problem=exc.message)]
    if searcher.num_docs != n_products:
        return [
            Problem(
                file=LEXICAL_DIRNAME + "/",
                problem=f"indexes {searcher.num_docs:,} documents, the snapshot has {n_products:,} products",
            )
        ]
    return []
