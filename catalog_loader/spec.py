"""Declarative source specs: which files, how to read them, and how each product field is found and parsed.

One spec replaces a hand-written loader per dataset: a field mapping names the column (or JSON key, or dotted
path) each :class:`sandbox.catalog.Product` field comes from and the reusable parser that normalizes it. Users
write the same models as JSON or TOML (:func:`load_spec_file`); the built-in presets are written with them too.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from catalog_loader.readers import logical_suffix
from sandbox.errors import UserError

Format = Literal["csv", "tsv", "json", "jsonl", "parquet"]
ParserName = Literal[
    "text",  # one string (numbers rendered, lists rejected)
    "html",  # visible text of an HTML fragment (lists joined first)
    "join",  # a string or a list of strings joined into paragraphs
    "first",  # the first item of a list or of a separated string
    "int",  # a whole number: "2,255", "148.0"
    "float",  # a real number: "4.2", "4,2"
    "price",  # currency symbols, thousands separators, decimal commas, ranges -> lowest
    "cents",  # integer cents -> currency units
    "bool",  # 1/0, yes/no, true/false, in stock/out of stock
    "list",  # a JSON list or a separated string
    "path",  # a category path "A > B > C" (or a list)
    "categories",  # several paths in one cell "A > B, C > D"; see FieldSpec.pick / rest_as
    "kv",  # "k:v;k:v" pairs -> attributes
    "attributes",  # a mapping (or JSON object string) -> attributes
    "options",  # variants: sku option dicts, name -> values, or a list of dicts
]

DEFAULT_NULL_VALUES = ("", "null", "NULL", "None", "none", "nan", "NaN", "N/A", "n/a", "NA")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")
FORMAT_BY_SUFFIX: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class SpecError(UserError, ValueError):
    """A source spec that cannot work (bad file, unknown column, invalid option), with what to fix."""


class FieldSpec(BaseModel):
    """Where one product field comes from and how it is parsed.

    Exactly one of ``source`` (a column/key name or dotted path such as ``images.0.large``; a list means "the
    first one present", or "all of them" with ``combine="all"``), ``template`` (``"{shop_id}-{ID}"``, every
    placeholder a column; missing if any placeholder is missing) or ``value`` (a constant) is given. In a spec
    file a bare string is shorthand for ``{"source": ...}`` and a list for ``{"source": [...]}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | list[str] | None = None
    template: str | None = None
    value: str | int | float | bool | None = None
    combine: Literal["first", "all"] = "first"
    parser: ParserName | None = Field(
        default=None, description="defaults by target field (price -> price, ...)"
    )
    pattern: str | None = Field(default=None, description="regex applied to the text first; group 1 is kept")
    separator: str | None = Field(default=None, description="list/path/categories/kv item separator")
    kv_separator: str = ":"
    decimal: Literal["auto", ".", ","] = "auto"
    pick: Literal["first", "deepest"] = Field(
        default="first", description="categories: which path is the main"
    )
    rest_as: str | None = Field(default=None, description="categories: attribute name for the other paths")
    on_error: Literal["reject", "missing"] = Field(
        default="reject", description="an unparseable value rejects the row, or (missing) is dropped"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (str, list)):
            return {"source": data}
        return data

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        given = [n for n in ("source", "template", "value") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of source, template or value (got {', '.join(given) or 'none'})"
            )
        if isinstance(self.source, list) and not self.source:
            raise ValueError("source list is empty")
        if self.template is not None and not _TEMPLATE_RE.search(self.template):
            raise ValueError(f"template {self.template!r} has no {{column}} placeholder")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid pattern {self.pattern!r}: {exc}") from None
        return self

    @property
    def sources(self) -> list[str]:
        """Every column/key this field reads (for header checks and error messages)."""
        if isinstance(self.source, str):
            return [self.source]
        if isinstance(self.source, list):
            return list(self.source)
        if self.template is not None:
            return _TEMPLATE_RE.findall(self.template)
        return []


class AttributeSpec(FieldSpec):
    """Attributes from one source: a single column under ``name``, every column starting with ``prefix``
    (named without it), or a whole mapping/specification parsed with ``parser="attributes"`` or ``"kv"``."""

    name: str | None = None
    prefix: str | list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _prefix_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("prefix") is not None and "source" not in data:
            data = {**data, "source": "*"}  # a prefix scans the record's keys; no single source column
        return data

    @model_validator(mode="after")
    def _named(self) -> AttributeSpec:
        if self.prefix is None and self.name is None and self.parser not in ("attributes", "kv"):
            raise ValueError("an attribute source needs a name, a prefix, or parser 'attributes' / 'kv'")
        return self

    @property
    def prefixes(self) -> list[str]:
        if self.prefix is None:
            return []
        return [self.prefix] if isinstance(self.prefix, str) else list(self.prefix)


class FieldMapping(BaseModel):
    """The product fields a source fills; ``id`` and ``title`` are required, everything else optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: FieldSpec
    title: FieldSpec
    brand: FieldSpec | None = None
    category_path: FieldSpec | None = None
    price: FieldSpec | None = None
    currency: FieldSpec | None = None
    description: FieldSpec | None = None
    bullet_points: FieldSpec | None = None
    options: FieldSpec | None = None
    rating: FieldSpec | None = None
    review_count: FieldSpec | None = None
    popularity: FieldSpec | None = None
    shop_id: FieldSpec | None = None
    services: FieldSpec | None = None
    in_stock: FieldSpec | None = None
    url: FieldSpec | None = None
    image_url: FieldSpec | None = None

    def items(self) -> list[tuple[str, FieldSpec]]:
        """``(product field, spec)`` for every mapped field, in declaration order."""
        return [(name, spec) for name in type(self).model_fields if (spec := getattr(self, name)) is not None]


class CompanionSpec(BaseModel):
    """A second file whose rows belong to the main file's rows one by one (Myntra's ``styles_text.csv``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    format: Literal["csv", "tsv", "jsonl"] = "csv"
    delimiter: str | None = None
    encoding: str = "utf-8-sig"


class SourceSpec(BaseModel):
    """One catalog source: its name (``Product.source`` and the id prefix), files, reader options and mapping.

    Several specs with the same ``name`` form one source (WebMall's four shop files), sharing one duplicate
    check and one report.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    format: Format | None = Field(
        default=None, description="inferred from the first path's suffix when omitted"
    )
    paths: list[Path] = Field(
        min_length=1, description="files or globs; .gz and .zip are opened transparently"
    )
    fields: FieldMapping
    attributes: list[AttributeSpec] = Field(default_factory=list)
    currency: str | None = Field(default=None, description="ISO code for every price of this source")
    record_path: str | None = Field(
        default=None, description="dotted path to the product inside each record; a list there gives several"
    )
    delimiter: str | None = Field(default=None, description="CSV/TSV field separator (',' / tab by default)")
    quotechar: str = '"'
    encoding: str = "utf-8-sig"
    encoding_errors: Literal["strict", "replace"] = "replace"
    header: bool = True
    columns: list[str] | None = Field(default=None, description="column names for a CSV without a header row")
    zip_members: str = Field(default="*", description="glob of the zip members to read")
    companion: CompanionSpec | None = None
    null_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NULL_VALUES))
    description: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"source name {value!r} must start with a letter/digit and use only [A-Za-z0-9_.-]"
            )
        return value

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, Path)) else value

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
            raise ValueError(f"currency must be a 3-letter ISO code such as EUR, got {value!r}")
        return value.strip().upper()

    @model_validator(mode="after")
    def _infer_format(self) -> SourceSpec:
        if self.format is None:
            suffix = logical_suffix(self.paths[0].name)
            fmt = FORMAT_BY_SUFFIX.get(suffix)
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {self.paths[0].name!r}; set format to one of "
                    f"{', '.join(sorted(set(FORMAT_BY_SUFFIX.values())))}"
                )
            object.__setattr__(self, "format", fmt)
        if self.companion is not None and self.format not in ("csv", "tsv", "jsonl"):
            raise ValueError("a companion file can only accompany csv, tsv or jsonl sources")
        return self

    @property
    def resolved_format(self) -> Format:
        assert self.format is not None  # set by the validator
        return self.format

    def with_base(self, base: Path) -> SourceSpec:
        """The same spec with relative paths taken relative to ``base`` (the spec file's folder)."""
        paths = [p if p.is_absolute() else base / p for p in self.paths]
        update: dict[str, Any] = {"paths": paths}
        if self.companion is not None and not self.companion.path.is_absolute():
            update["companion"] = self.companion.model_copy(update={"path": base / self.companion.path})
        return self.model_copy(update=update)


def _read_toml(path: Path) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise SpecError(
                f"{path}: reading TOML needs Python 3.11+ (tomllib) or the 'tomli' package; "
                "install tomli or write the spec as JSON"
            ) from None
    with open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: invalid TOML: {exc}") from None


def load_spec_file(path: Path) -> list[SourceSpec]:
    """Read a user's spec file (JSON or TOML) into source specs.

    Accepted shapes: a JSON list of sources, or an object/table with a ``sources`` list (TOML: ``[[sources]]``;
    ``[[source]]`` works too). An entry may instead name a preset: ``{"preset": "icecat", "data_dir": "..."}``.
    Relative paths are resolved against the spec file's folder. Errors name the entry and the field at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        document = _read_toml(path)
    elif suffix == ".json":
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    else:
        raise SpecError(f"{path}: a spec file must end in .json or .toml")
    entries = document.get("sources", document.get("source")) if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise SpecError(
            f"{path}: expected a non-empty list of sources (a 'sources' list or [[sources]] tables)"
        )
    base = path.parent
    specs: list[SourceSpec] = []
    for index, entry in enumerate(entries):
        label = f"{path}: source #{index + 1}"
        if not isinstance(entry, dict):
            raise SpecError(f"{label}: expected a table/object, found {type(entry).__name__}")
        if "preset" in entry:
            from catalog_loader.presets import preset

            extra = set(entry) - {"preset", "data_dir"}
            if extra:
                raise SpecError(
                    f"{label}: a preset entry takes only 'preset' and 'data_dir', not {sorted(extra)}"
                )
            data_dir = Path(entry.get("data_dir", "."))
            try:
                specs.extend(
                    preset(str(entry["preset"]), data_dir if data_dir.is_absolute() else base / data_dir)
                )
            except ValueError as exc:
                raise SpecError(f"{label}: {exc}") from None
            continue
        try:
            spec = SourceSpec.model_validate(entry)
        except ValidationError as exc:
            name = entry.get("name", "?")
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(entry)'}: {err['msg']}" for err in exc.errors()
            )
            raise SpecError(f"{label} ({name}): {problems}") from None
        specs.append(spec.with_base(base))
    return specs
