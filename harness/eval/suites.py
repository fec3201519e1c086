"""Frozen benchmark suites: a small committed config (catalog presets, seed, counts) and the checksum of the
task file it generates (shopping suites: synthesized tasks; research suites: user-agent report tasks with
rubrics), so ``prgym bench build NAME`` rebuilds the same bytes anywhere the same data is.

The snapshot id is content-derived, so a rebuilt catalog has the same id; results written by ``prgym eval``
name the suite, its version and the snapshot id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sandbox.errors import UserError

SUITES_DIR = Path(__file__).parent / "suites"


class SuiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = Field(ge=1)
    description: str = ""
    kind: Literal["shopping", "research"] = Field(
        default="shopping",
        description="shopping: synthesized ShoppingBench-style tasks; research: user-agent report tasks.",
    )
    presets: list[str] = Field(min_length=1)
    seed: int = 0
    counts: dict[str, int]
    max_satisfying: int = 1000
    min_products: int = Field(default=3, ge=1, description="Research: products each report must compare.")
    checksum: str | None = Field(default=None, description="sha256 of tasks.jsonl; None until first frozen.")

    @model_validator(mode="after")
    def _counts_fit_kind(self) -> SuiteConfig:
        if self.kind == "research" and set(self.counts) != {"research"}:
            raise ValueError(f"a research suite counts only 'research' tasks, got {sorted(self.counts)}")
        return self


class SuiteManifest(BaseModel):
    """``suite.json`` beside a built suite's ``tasks.jsonl``."""

    name: str
    version: int
    kind: str = "shopping"
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
    try:
        return SuiteConfig.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UserError(f"suite config {path}: {where}: {first['msg']}") from None


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(tasks_path: Path) -> SuiteManifest | None:
    path = tasks_path.parent / "suite.json"
    if tasks_path.name != "tasks.jsonl" or not path.is_file():
        return None
    return SuiteManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
