"""The sample-data fetcher against a real local HTTP server that serves ../shared/data.

The server is a small threaded ``http.server`` handler that supports ``Range`` (the stdlib's simple handler
does not) and can misbehave on demand: serve altered bytes for a path, cut the connection after N bytes once,
or ignore ``Range`` altogether. It records every request so tests can tell what the client actually asked for.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs
import pytest
from data_copies import make_writable, read_only_copy
from pydantic import ValidationError
from typer.testing import CliRunner

from catalog_loader import datahome
from catalog_loader.datahome import (
    STATE_FILE,
    FileState,
    dataset_status,
    resolve_data_dir,
)
from catalog_loader.datasets import DATASETS, DataFile, Dataset, GitHubSource, expand_names
from catalog_loader.fetch import (
    ChecksumMismatchError,
    DataDirNotWritableError,
    DerivedDatasetError,
    FetchError,
    FetchSettings,
    NetworkUnavailableError,
    TransferInterruptedError,
    ensure_datasets,
    fetch_datasets,
)
from harness.cli import app

# --------------------------------------------------------------------------------------------- test server


@dataclass
class ServerControl:
    """What the test server serves and how it misbehaves; ``requests`` logs (path, Range header) per GET."""

    root: Path
    url: str = ""
    corrupt: set[str] = field(default_factory=set)
    cut_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, rel: str) -> list[str | None]:
        with self.lock:
            return [rng for path, rng in self.requests if path == rel]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    control: ServerControl

    def handle_error(self, request: object, client_address: object) -> None:
        """A client closing an idle keep-alive connection is normal; anything else still gets reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _RangeHandler(BaseHTTPRequestHandler):
    """Serves files under ``control.root`` with single-range ``bytes=a-`` / ``bytes=a-b`` support."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _plain(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        ctl = self.server.control
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        with ctl.lock:
            ctl.requests.append((rel, range_header))
        target = (ctl.root / rel).resolve()
        if not target.is_relative_to(ctl.root.resolve()) or not target.is_file():
            self._plain(404, "not found")
            return
        body = target.read_bytes()
        if rel in ctl.corrupt:
            mid = len(body) // 2
            body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1 :]
        status, start, end = 200, 0, len(body) - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match and not ctl.ignore_range:
            start = int(match[1])
            end = min(int(match[2]), len(body) - 1) if match[2] else len(body) - 1
            if start >= len(body):
                self._plain(416, "range not satisfiable", {"Content-Range": f"bytes */{len(body)}"})
                return
            status = 206
        payload = body[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.end_headers()
        with ctl.lock:
            cut = ctl.cut_after.pop(rel, None)
        if cut is not None:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture()
def server(shared_data: Path) -> Iterator[ServerControl]:
    """A fresh server per test on 127.0.0.1 (random free port) serving the shared data directory."""
    control = ServerControl(root=shared_data)
    httpd = _Server(("127.0.0.1", 0), _RangeHandler)
    httpd.control = control
    control.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="data-test-server", daemon=True)
    thread.start()
    try:
        yield control
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may pick up a developer's data home, mirror or cache (verified state lives in the cache)."""
    monkeypatch.delenv("PRGYM_DATA_DIR", raising=False)
    monkeypatch.delenv("PRGYM_DATA_MIRROR", raising=False)
    monkeypatch.setenv("PRGYM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setattr(datahome, "_MEMORY_STATE", {})


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _parts(root: Path) -> list[Path]:
    return sorted(root.rglob("*.part")) if root.exists() else []


QUIET = {"progress": False}

# --------------------------------------------------------------------------------------------- registry


def test_registry_matches_the_reference_checksums(shared_data: Path) -> None:
    listed = {}
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        listed[rel.removeprefix("./")] = digest
    registry = {f.path: f for d in DATASETS.values() for f in d.files}
    assert set(registry) == set(listed)
    for rel, f in registry.items():
        assert f.sha256 == listed[rel], rel
        assert f.size == (shared_data / rel).stat().st_size, rel
    assert sorted(DATASETS) == sorted(
        [
            "icecat",
            "amazon_in",
            "myntra",
            "bestbuy",
            "webmall",
            "homedepot",
            "shoppingbench",
            "webshop",
            "queries",
            "web_pages",
        ]
    )


def test_registry_sources_are_pinned_raw_github_urls() -> None:
    for dataset in DATASETS.values():
        for f in dataset.files:
            if dataset.derived:
                assert f.source is None
                continue
            assert f.source is not None
            assert re.fullmatch(
                r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", f.source.url
            ), f.source.url
    webmall_1 = DATASETS["webmall"].files[0].source
    assert webmall_1 is not None
    assert webmall_1.url == (
        "https://raw.githubusercontent.com/wbsg-uni-mannheim/WebMall/"
        "4223ced9fcb918d94f66f1612396f7064d1603a1/product_data/webmall_1.csv"
    )
    assert DATASETS["homedepot"].derived and DATASETS["homedepot"].derived_from is not None


def test_registry_rejects_bad_entries() -> None:
    good_sha = "0" * 64
    with pytest.raises(ValidationError, match="relative POSIX path"):
        DataFile(path="../etc/passwd", sha256=good_sha, size=1)
    with pytest.raises(ValidationError, match="sha256"):
        DataFile(path="x/y.csv", sha256="abc", size=1)
    with pytest.raises(ValidationError, match="commit"):
        GitHubSource(owner="o", repo="r", commit="main", path="a.csv")
    with pytest.raises(ValidationError, match="must say what it was derived from"):
        Dataset(
            name="x", description="d", derived=True, files=(DataFile(path="x/a", sha256=good_sha, size=1),)
        )
    with pytest.raises(ValidationError, match="must live under 'x/'"):
        Dataset(
            name="x",
            description="d",
            files=(
                DataFile(
                    path="y/a",
                    sha256=good_sha,
                    size=1,
                    source=GitHubSource(owner="o", repo="r", commit="a" * 40, path="a"),
                ),
            ),
        )


def test_expand_names_handles_all_duplicates_and_unknown_names() -> None:
    assert [d.name for d in expand_names(["webmall", "queries", "webmall"])] == ["webmall", "queries"]
    assert [d.name for d in expand_names("all")] == list(DATASETS)
    with pytest.raises(KeyError, match="unknown dataset 'nope'; expected one of: icecat"):
        expand_names(["nope"])


# --------------------------------------------------------------------------------------------- data home


def test_resolve_data_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_data_dir() == platformdirs.user_cache_path("prgym", appauthor=False) / "data"
    monkeypatch.setenv("PRGYM_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv("PRGYM_DATA_DIR", "~/prgym-data")
    assert resolve_data_dir() == Path.home() / "prgym-data"
    assert not (tmp_path / "env").exists(), "resolving must not create the folder"


def test_status_of_an_empty_dir_is_missing(tmp_path: Path) -> None:
    st = dataset_status("webmall", tmp_path / "nothing-here")
    assert st.state is FileState.MISSING and st.n_verified == 0
    assert not (tmp_path / "nothing-here").exists()


# --------------------------------------------------------------------------------------------- downloads


def test_fetch_via_mirror_downloads_and_verifies(server: ServerControl, tmp_path: Path) -> None:
    report = fetch_datasets(["queries", "webmall"], tmp_path, mirror=server.url, **QUIET)
    paths = [f.path for d in (DATASETS["webmall"], DATASETS["queries"]) for f in d.files]
    assert sorted(f.path for f in report.files) == sorted(paths)
    assert {f.action for f in report.files} == {"downloaded"}
    assert report.bytes_transferred == sum(f.size for d in ("queries", "webmall") for f in DATASETS[d].files)
    for rel in paths:
        assert (tmp_path / rel).read_bytes() == (server.root / rel).read_bytes(), rel
        assert server.requests_for(rel) == [None], "one plain GET per file"
    assert _parts(tmp_path) == []
    assert dataset_status("queries", tmp_path).verified and dataset_status("webmall", tmp_path).verified
    assert not (tmp_path / STATE_FILE).exists(), "verified state lives in the cache, not in the data folder"
    assert datahome.state_path(tmp_path).is_file()

    before = len(server.requests)
    again = fetch_datasets(["queries", "webmall"], tmp_path, mirror=server.url, **QUIET)
    assert {f.action for f in again.files} == {"present"}
    assert len(server.requests) == before, "verified files must not be downloaded again"


def test_mirror_from_environment(
    server: ServerControl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRGYM_DATA_MIRROR", server.url + "/")
    monkeypatch.setenv("PRGYM_DATA_DIR", str(tmp_path))
    assert ensure_datasets("bestbuy", **QUIET) == tmp_path
    assert _sha(tmp_path / "bestbuy/products.json") == DATASETS["bestbuy"].files[1].sha256
    assert server.requests_for("bestbuy/products.json") == [None]


def test_corrupted_file_is_refused_and_not_left_in_place(server: ServerControl, tmp_path: Path) -> None:
    bad = "webmall/webmall_2.csv"
    server.corrupt.add(bad)
    with pytest.raises(ChecksumMismatchError) as info:
        fetch_datasets("webmall", tmp_path, mirror=server.url, **QUIET)
    expected = DATASETS["webmall"].files[1].sha256
    raw = bytearray((server.root / bad).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    actual = hashlib.sha256(raw).hexdigest()
    message = str(info.value)
    assert bad in message and expected in message and actual in message
    assert (info.value.expected, info.value.actual) == (expected, actual)
    assert not (tmp_path / bad).exists()
    assert _parts(tmp_path) == []
    assert dataset_status("webmall", tmp_path).state is FileState.MISSING

    server.corrupt.clear()  # the source is fixed: the next fetch completes the dataset
    fetch_datasets("webmall", tmp_path, mirror=server.url, **QUIET)
    assert dataset_status("webmall", tmp_path).verified


def test_interrupted_transfer_leaves_a_part_and_the_next_fetch_resumes(
    server: ServerControl, tmp_path: Path
) -> None:
    rel = "queries/algolia_query_suggestions.json"
    size = (server.root / rel).stat().st_size
    server.cut_after[rel] = 300_000
    with pytest.raises(TransferInterruptedError, match="interrupted at 300,000 of 1,381,792 bytes"):
        fetch_datasets(
            "queries", tmp_path, mirror=server.url, settings=FetchSettings(resume_attempts=0), **QUIET
        )
    part = tmp_path / (rel + ".part")
    assert part.stat().st_size == 300_000
    assert not (tmp_path / rel).exists()
    assert dataset_status("queries", tmp_path).files[0].partial_bytes == 300_000

    report = fetch_datasets("queries", tmp_path, mirror=server.url, **QUIET)
    assert server.requests_for(rel) == [None, "bytes=300000-"]
    outcome = next(f for f in report.files if f.path == rel)
    assert outcome.action == "resumed" and outcome.bytes_transferred == size - 300_000
    assert _sha(tmp_path / rel) == DATASETS["queries"].files[0].sha256
    assert not part.exists()


def test_dropped_connection_is_resumed_within_one_fetch(server: ServerControl, tmp_path: Path) -> None:
    rel = "webshop/human_goals.json"
    server.cut_after[rel] = 123_457
    report = fetch_datasets("webshop", tmp_path, mirror=server.url, **QUIET)
    assert server.requests_for(rel) == [None, "bytes=123457-"]
    assert report.files[0].action == "resumed"
    assert report.files[0].bytes_transferred == (server.root / rel).stat().st_size
    assert dataset_status("webshop", tmp_path).verified


def test_server_ignoring_range_restarts_from_zero(server: ServerControl, tmp_path: Path) -> None:
    rel = "webmall/webmall_4.csv"
    original = (server.root / rel).read_bytes()
    (tmp_path / "webmall").mkdir()
    (tmp_path / (rel + ".part")).write_bytes(original[:5000])
    server.ignore_range = True
    report = fetch_datasets("webmall", tmp_path, mirror=server.url, **QUIET)
    assert server.requests_for(rel) == ["bytes=5000-"]
    outcome = next(f for f in report.files if f.path == rel)
    assert outcome.action == "downloaded" and outcome.bytes_transferred == len(original)
    assert (tmp_path / rel).read_bytes() == original


def test_stale_part_file_is_discarded_after_a_mismatch(server: ServerControl, tmp_path: Path) -> None:
    rel = "webmall/webmall_3.csv"
    (tmp_path / "webmall").mkdir()
    (tmp_path / (rel + ".part")).write_bytes(b"not the start of this file" * 40)
    fetch_datasets("webmall", tmp_path, mirror=server.url, **QUIET)
    assert server.requests_for(rel) == ["bytes=1040-", None]
    assert (tmp_path / rel).read_bytes() == (server.root / rel).read_bytes()


def test_corrupt_local_file_is_replaced(server: ServerControl, tmp_path: Path) -> None:
    rel = "queries/wands_queries.csv"
    fetch_datasets("queries", tmp_path, mirror=server.url, **QUIET)
    data = bytearray((tmp_path / rel).read_bytes())
    data[10] ^= 0x01
    (tmp_path / rel).write_bytes(bytes(data))
    os.utime(tmp_path / rel, ns=(1, 1))  # a new mtime, as any edit would give
    st = dataset_status("queries", tmp_path)
    bad = next(f for f in st.files if f.path == rel)
    assert bad.state is FileState.CORRUPT and bad.actual_sha256 == hashlib.sha256(data).hexdigest()
    fetch_datasets("queries", tmp_path, mirror=server.url, **QUIET)
    assert server.requests_for(rel) == [None, None]
    assert dataset_status("queries", tmp_path).verified


# --------------------------------------------------------------------------------------------- local copies


def test_existing_data_dir_is_used_without_any_request(
    shared_data: Path, server: ServerControl, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = read_only_copy(shared_data, tmp_path / "shared-ro")
    try:
        monkeypatch.setenv("PRGYM_DATA_DIR", str(copy))
        assert ensure_datasets("all", mirror=server.url, **QUIET) == copy
        assert server.requests == []
        assert not (copy / STATE_FILE).exists(), "a read-only copy must not be written to"
        assert _parts(copy) == []
    finally:
        make_writable(copy)


def test_a_writable_data_folder_is_never_written_to(server: ServerControl, tmp_path: Path) -> None:
    """Verification state goes to the cache dir keyed by the folder, even when the data folder is writable."""
    home = tmp_path / "data"
    fetch_datasets("webmall", home, mirror=server.url, **QUIET)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    datahome._MEMORY_STATE.clear()
    assert dataset_status("webmall", home).verified
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert not (home / STATE_FILE).exists()
    assert datahome.state_path(home) != datahome.state_path(tmp_path / "other")


def test_verified_state_is_remembered(
    server: ServerControl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_datasets("webmall", tmp_path, mirror=server.url, **QUIET)
    hashed: list[Path] = []
    real_sha = datahome.sha256_file

    def counting_sha(path: Path) -> str:
        hashed.append(path)
        return real_sha(path)

    monkeypatch.setattr(datahome, "sha256_file", counting_sha)
    monkeypatch.setattr(datahome, "_MEMORY_STATE", {})  # a new process: only the state file remains
    assert dataset_status("webmall", tmp_path).verified
    assert hashed == [], "unchanged files are trusted from the state file"
    os.utime(tmp_path / "webmall/webmall_1.csv")
    assert dataset_status("webmall", tmp_path).verified
    assert hashed == [tmp_path / "webmall/webmall_1.csv"], "a touched file is hashed again"


def test_read_only_shared_copy_is_remembered_in_memory(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dataset_status("webshop", shared_data).verified
    monkeypatch.setattr(datahome, "sha256_file", lambda path: pytest.fail(f"re-hashed {path}"))
    assert dataset_status("webshop", shared_data).verified


def test_read_only_data_dir_is_not_written(server: ServerControl, tmp_path: Path) -> None:
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o555)
    try:
        with pytest.raises(DataDirNotWritableError, match="not writable; set PRGYM_DATA_DIR"):
            fetch_datasets("queries", home, mirror=server.url, **QUIET)
    finally:
        home.chmod(0o755)
    assert server.requests == [] and list(home.iterdir()) == []


# --------------------------------------------------------------------------------------------- failures


def test_no_network_fails_fast_with_a_local_copy_hint(tmp_path: Path) -> None:
    port = _closed_port()
    with pytest.raises(NetworkUnavailableError) as info:
        fetch_datasets(["queries", "webmall"], tmp_path, mirror=f"http://127.0.0.1:{port}", **QUIET)
    message = str(info.value)
    assert f"no network access to 127.0.0.1:{port}" in message
    assert "PRGYM_DATA_DIR" in message and "--mirror" in message
    assert "layout: <dir>/webmall/webmall_1.csv, <dir>/webmall/webmall_2.csv, " in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [], "nothing half-written"


def test_derived_dataset_must_come_from_a_local_copy(
    shared_data: Path, server: ServerControl, tmp_path: Path
) -> None:
    with pytest.raises(DerivedDatasetError) as info:
        fetch_datasets("homedepot", tmp_path, **QUIET)
    message = str(info.value)
    assert "derived" in message and "cannot be downloaded" in message and "PRGYM_DATA_DIR" in message
    assert (
        "homedepot/products.csv" in message and "MohammedFCIS/Home-Depot-Product-Search-Relevance" in message
    )
    # A local copy is used as it is; a mirror holding a copy works too (and is verified like any download).
    assert ensure_datasets("homedepot", shared_data, **QUIET) == shared_data
    assert server.requests == []
    ensure_datasets("homedepot", tmp_path, mirror=server.url, **QUIET)
    assert dataset_status("homedepot", tmp_path).verified
    # 'all' without a mirror skips what it cannot have when asked to, instead of failing.
    report = fetch_datasets("homedepot", tmp_path / "other", skip_derived=True, **QUIET)
    assert report.skipped_derived == ("homedepot",) and report.files == ()


def test_http_error_names_the_file(server: ServerControl, tmp_path: Path) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    server.root = empty
    with pytest.raises(
        FetchError, match=r"cannot download queries/\S+: http://127\.0\.0\.1:\d+/\S+ answered HTTP 404"
    ):
        fetch_datasets("queries", tmp_path / "home", mirror=server.url, **QUIET)


def test_bad_mirror_url_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="mirror must be an http\\(s\\) base URL"):
        fetch_datasets("queries", tmp_path, mirror="ftp://example.org/data", **QUIET)


# --------------------------------------------------------------------------------------------- CLI

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_cli_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "path"], env={"PRGYM_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0 and result.stdout.strip() == str(tmp_path)
    result = runner.invoke(app, ["data", "path", "--data-dir", str(tmp_path / "x")])
    assert result.stdout.strip() == str(tmp_path / "x")


def test_cli_fetch_status_and_skip_note(server: ServerControl, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = runner.invoke(
        app,
        ["data", "fetch", "all", "--mirror", server.url, "--data-dir", str(home), "--no-progress"],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "26 file(s) downloaded" in result.stderr
    for dataset in DATASETS.values():
        assert dataset_status(dataset, home).verified, dataset.name

    shutil.rmtree(home / "homedepot")
    (home / "icecat/icecat-2.json.zip").write_bytes(b"garbage")
    status = runner.invoke(app, ["data", "status", "--data-dir", str(home)], env=WIDE)
    assert status.exit_code == 0, status.output
    rows = {line.split()[1]: line for line in status.stdout.splitlines() if line.startswith("│ ")}
    assert "4/4" in rows["webmall"] and "verified" in rows["webmall"]
    assert "0/2" in rows["homedepot"] and "missing" in rows["homedepot"] and "derived" in rows["homedepot"]
    assert "3/4" in rows["icecat"] and "corrupt" in rows["icecat"]

    # Restore icecat by hand; then, without a mirror, 'all' has nothing to download and notes homedepot.
    shutil.copyfile(server.root / "icecat/icecat-2.json.zip", home / "icecat/icecat-2.json.zip")
    before = len(server.requests)
    result = runner.invoke(app, ["data", "fetch", "--data-dir", str(home)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "0 file(s) downloaded" in result.stderr
    assert "homedepot skipped: it is derived" in result.stderr
    assert len(server.requests) == before


def test_cli_errors(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["data", "fetch", "nope", "--data-dir", str(tmp_path)], env=WIDE)
    assert bad.exit_code == 2 and "unknown dataset 'nope'" in bad.output

    derived = runner.invoke(app, ["data", "fetch", "homedepot", "--data-dir", str(tmp_path)], env=WIDE)
    assert derived.exit_code == 2 and "is derived" in derived.stderr and "PRGYM_DATA_DIR" in derived.stderr

    port = _closed_port()
    offline = runner.invoke(
        app, ["data", "fetch", "queries", "--mirror", f"http://127.0.0.1:{port}", "--data-dir", str(tmp_path)]
    )
    assert offline.exit_code == 2
    assert "no network access to" in offline.stderr and "PRGYM_DATA_DIR" in offline.stderr
