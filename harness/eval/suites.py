"""Frozen benchmark suites: a small committed config (catalog presets, seed, counts) and the checksum of the
task file it generates, so ``prgym bench build NAME`` rebuilds the same bytes anywhere the same data is.

The snapshot id is content-derived, so a rebuilt catalog has the same id; results written by ``prgym eval``
name the suite, its version and the snapshot id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sandbox.errors import UserError

SUITES_DIR = Path(__file__).parent / "suites"


class SuiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = Field(ge=1)
    description: str = ""
    presets: list[str] = Field(min_length=1)
    seed: int = 0
    counts: dict[str, int]
    max_satisfying: int = 1000
    checksum: str | None = Field(default=None, description="sha256 of tasks.jsonl; None until first frozen.")


class SuiteManifest(BaseModel):
    """``suite.json`` beside a built suite's ``tasks.jsonl``."""

    name: str
    version: int
    snapshot_id: str
    checksum: str
    n_tasks: int
    counts: dict[str, int]


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


def load_suite(name: str) -> SuiteConfig:
    path = SUITES_DIR / f"{name}.json"
    if not path.is_file():
        raise UserError(f"unknown suite {name!r}", hint=f"known suites: {', '.join(suite_names())}")
    return SuiteConfig.model_validate_json(path.read_text(encoding="utf-8"))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(tasks_path: Path) -> SuiteManifest | None:
    path = tasks_path.parent / "suite.json"
    if tasks_path.name != "tasks.jsonl" or not path.is_file():
        return None
    return SuiteManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
