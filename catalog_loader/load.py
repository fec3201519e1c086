"""The loading engine: a source spec plus its files in, validated :class:`Product` records out, one at a time.

A spec is compiled once into plain closures (look up the column, parse, check) so the per-row work is a few
dict lookups and parser calls; products are yielded as they are built, never collected, so memory stays flat
however large the catalog. Duplicate ids are caught with a set of 8-byte BLAKE2b digests (roughly 100-170
bytes per product in CPython, far less than the id strings) rather than the ids themselves.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from catalog_loader import parsers as p
from catalog_loader.readers import (
    RawRecord,
    ReaderError,
    csv_header,
    expand_paths,
    guarded,
    iter_binary_files,
    iter_csv,
    iter_json,
    iter_jsonl,
    iter_parquet,
    parquet_columns,
    text_stream,
    too_deep_reason,
)
from catalog_loader.report import FileCounts, Reject, SourceReport, short_repr
from catalog_loader.spec import FieldSpec, SourceSpec, SpecError
from sandbox.catalog.product import Product

RejectCallback = Callable[[Reject], None]

_MISSING: Any = object()
_TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")

_STR_TARGETS = frozenset({"id", "title", "brand", "currency", "description", "shop_id", "url", "image_url"})
_LIST_TARGETS = frozenset({"category_path", "bullet_points", "services"})
_ALLOWED_PARSERS: dict[str, frozenset[str]] = {
    **{t: frozenset({"text", "html", "join", "first"}) for t in _STR_TARGETS},
    **{t: frozenset({"list", "path", "categories"}) for t in _LIST_TARGETS},
    "price": frozenset({"price", "cents", "float", "int"}),
    "rating": frozenset({"float", "int"}),
    "popularity": frozenset({"float", "int"}),
    "review_count": frozenset({"int"}),
    "in_stock": frozenset({"bool"}),
    "options": frozenset({"options"}),
}
_DEFAULT_PARSER: dict[str, str] = {
    **{t: "text" for t in _STR_TARGETS},
    "category_path": "path",
    "bullet_points": "list",
    "services": "list",
    "price": "price",
    "rating": "float",
    "popularity": "float",
    "review_count": "int",
    "in_stock": "bool",
    "options": "options",
}
_ATTRIBUTE_PARSERS = frozenset(
    {"text", "html", "join", "first", "int", "float", "price", "bool", "list", "path", "kv", "attributes"}
)


# ------------------------------------------------------------------------------------------------- lookups


def _lookup_fn(path: str) -> Callable[[dict[str, Any]], Any]:
    """A getter for a column/key; a dotted path (``images.0.large``) walks dicts and lists when no column has
    that exact name."""
    if "." not in path:

        def get(data: dict[str, Any]) -> Any:
            return data.get(path, _MISSING)

        return get
    parts = path.split(".")

    def walk(data: dict[str, Any]) -> Any:
        value = data.get(path, _MISSING)
        if value is not _MISSING:
            return value
        current: Any = data
        for part in parts:
            if isinstance(current, dict):
                current = current.get(part, _MISSING)
            elif isinstance(current, list) and part.isdigit():
                index = int(part)
                current = current[index] if index < len(current) else _MISSING
            else:
                return _MISSING
            if current is _MISSING or current is None:
                return _MISSING
        return current

    return walk


def _present_fn(null_values: Sequence[str]) -> Callable[[Any], bool]:
    nulls = frozenset(null_values)

    def present(value: Any) -> bool:
        if value is _MISSING or value is None:
            return False
        kind = type(value)
        if kind is str:
            text = value.strip()
            return bool(text) and text not in nulls
        if kind is float:
            return value == value  # NaN is missing
        if kind is list or kind is dict or kind is tuple:
            return len(value) > 0
        return True

    return present


Getter = Callable[[dict[str, Any]], tuple[Any, str]]


def _getter(spec: FieldSpec, present: Callable[[Any], bool], null_values: Sequence[str]) -> Getter:
    """Compile where a field's raw value comes from: ``(value or _MISSING, the column it came from)``."""
    if spec.value is not None:
        constant = spec.value
        return lambda data: (constant, "(constant)")
    if spec.template is not None:
        template = spec.template
        pieces = [(name, _lookup_fn(name)) for name in _TEMPLATE_RE.findall(template)]
        label = ",".join(name for name, _ in pieces)

        def render(data: dict[str, Any]) -> tuple[Any, str]:
            values: dict[str, str] = {}
            for name, get in pieces:
                raw = get(data)
                if not present(raw):
                    return _MISSING, name
                text = p.value_text(raw)
                if text is None:
                    return _MISSING, name
                values[name] = text
            return _TEMPLATE_RE.sub(lambda m: values[m.group(1)], template), label

        return render
    names = spec.sources
    lookups = [(name, _lookup_fn(name)) for name in names]
    if len(lookups) == 1:
        name, get = lookups[0]
        if "." not in name:
            # the common case, inlined: one column, present unless None/blank/a null marker
            nulls = frozenset(null_values)
            missing = (_MISSING, name)

            def column(data: dict[str, Any]) -> tuple[Any, str]:
                raw = data.get(name)
                if raw is None:
                    return missing
                if type(raw) is str:
                    text = raw.strip()
                    if not text or text in nulls:
                        return missing
                    return raw, name
                return (raw if present(raw) else _MISSING), name

            return column

        def single(data: dict[str, Any]) -> tuple[Any, str]:
            raw = get(data)
            return (raw if present(raw) else _MISSING), name

        return single
    if spec.combine == "all":
        label = ",".join(names)

        def gather(data: dict[str, Any]) -> tuple[Any, str]:
            out: list[Any] = []
            for _, get in lookups:
                raw = get(data)
                if present(raw):
                    if isinstance(raw, list):
                        out.extend(raw)
                    else:
                        out.append(raw)
            # a tuple, so that parse results can be cached by value
            return (tuple(out) if out else _MISSING), label

        return gather

    def first(data: dict[str, Any]) -> tuple[Any, str]:
        for name, get in lookups:
            raw = get(data)
            if present(raw):
                return raw, name
        return _MISSING, names[0]

    return first


# ------------------------------------------------------------------------------------------------- parsers

#: Short display fields that shop exports carry HTML-escaped (``Briggs &amp; Stratton``, ``Acme&#174;``).
_ENTITY_TARGETS = ("title", "brand")


def unescape_entities(text: str) -> str:
    """``text`` with HTML character references decoded, also when escaped twice (``&amp;amp;`` in WebMall).

    Titles are shown to agents and matched by their words: ``&amp;`` would be indexed as the term ``amp``.
    Three rounds at most, so a title that really spells an entity out cannot loop.
    """
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _join(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return "\n".join(p.parse_list(value)) or None
    return p.parse_text(value)


def _html(value: Any) -> str | None:
    return p.html_to_text(_join(value))


def _first(value: Any, separator: str | None) -> str | None:
    if isinstance(value, dict):
        raise ValueError(f"expected a string or a list, got dict {short_repr(value, 60)}")
    items = p.parse_list(value, separator)
    return items[0] if items else None


def _bool_text(value: Any) -> str | None:
    flag = p.parse_bool(value)
    return None if flag is None else ("yes" if flag else "no")


def _number_text(parse: Callable[[Any], Any], value: Any) -> str | None:
    number = parse(value)
    if number is None:
        return None
    if isinstance(number, Decimal):
        return format(number, "f")
    return p.format_number(float(number))


def _parser(spec: FieldSpec, name: str) -> Callable[[Any], Any]:
    """The parse function for a parser name, with the spec's options bound."""
    if name == "text":
        return p.parse_text
    if name == "html":
        return _html
    if name == "join":
        return _join
    if name == "first":
        return partial(_first, separator=spec.separator)
    if name == "int":
        return p.parse_int
    if name == "float":
        return p.parse_float
    if name == "price":
        return partial(p.parse_price, decimal=spec.decimal)
    if name == "cents":
        return p.parse_cents
    if name == "bool":
        return p.parse_bool
    if name == "list":
        return partial(p.parse_list, separator=spec.separator)
    if name == "path":
        return partial(p.split_path, separator=spec.separator or ">")
    if name == "categories":
        return partial(p.split_categories, separator=spec.separator or ",")
    if name == "kv":
        return partial(p.parse_kv_pairs, separator=spec.separator or ";", kv_separator=spec.kv_separator)
    if name == "attributes":
        return p.parse_attributes
    if name == "options":
        return p.parse_options
    raise SpecError(f"unknown parser {name!r}")  # pragma: no cover - guarded by the spec model


_CACHEABLE = frozenset({"int", "float", "price", "cents", "bool", "path", "categories", "list", "first"})
_CACHE_LIMIT = 8192
_CACHE_MAX_CHARS = 200


def _cached(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Memoize a pure parser on short string/tuple inputs: catalogs repeat prices, flags and category paths
    endlessly, and a dict hit is far cheaper than re-parsing. The cache is bounded (cleared when full); results
    are never mutated afterwards (pydantic copies lists when it builds the Product)."""
    cache: dict[Any, Any] = {}

    def parse_cached(raw: Any) -> Any:
        kind = type(raw)
        if (kind is str and len(raw) <= _CACHE_MAX_CHARS) or kind is tuple:
            try:
                return cache[raw]
            except KeyError:
                pass
            except TypeError:  # a tuple holding unhashable items
                return parse(raw)
            value = parse(raw)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[raw] = value
            return value
        return parse(raw)

    return parse_cached


def _with_pattern(spec: FieldSpec, parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if spec.pattern is None:
        return parse
    regex = re.compile(spec.pattern)

    def extract(value: Any) -> Any:
        if isinstance(value, (list, dict)):
            raise ValueError(f"expected text to match {spec.pattern!r}, got {type(value).__name__}")
        found = p.extract_pattern(value, regex)
        if found is None:
            raise ValueError(f"{short_repr(value, 60)} does not match the pattern {spec.pattern!r}")
        return parse(found)

    return extract


# ------------------------------------------------------------------------------------------------ compiling


@dataclass(slots=True)
class _Field:
    target: str
    get: Getter
    parse: Callable[[Any], Any]
    lenient: bool
    pick: str
    rest_as: str | None
    categories: bool


@dataclass(slots=True)
class _Attr:
    name: str | None
    prefixes: tuple[str, ...]
    get: Getter | None
    parse: Callable[[Any], Any]
    lenient: bool
    mapping: bool
    names: dict[str, str | None] = field(default_factory=dict)  # column -> attribute name (prefix sources)

    def name_of(self, key: str) -> str | None:
        """The attribute name for a column under one of the prefixes (cached: column sets repeat)."""
        found = self.names.get(key, _MISSING)
        if found is _MISSING:
            found = None
            for prefix in self.prefixes:
                if key.startswith(prefix) and len(key) > len(prefix):
                    found = key[len(prefix) :]
                    break
            if len(self.names) < 1_000_000:
                self.names[key] = found
        return found


def _scalar_text(raw: Any, nulls: frozenset[str]) -> str | None:
    """Fast path of :func:`parsers.value_text` for the scalars attribute columns hold."""
    kind = type(raw)
    if kind is str:
        text = raw.strip()
        return text if text and text not in nulls else None
    if kind is bool:
        return "yes" if raw else "no"
    if kind is float:
        return p.format_number(raw) if raw == raw else None
    if kind is int:
        return str(raw)
    if raw is None:
        return None
    return p.value_text(raw)


@dataclass(slots=True)
class CompiledSpec:
    """A spec turned into closures, plus what the header checks need."""

    spec: SourceSpec
    fields: list[_Field]
    attributes: list[_Attr]
    present: Callable[[Any], bool]
    nulls: frozenset[str]
    labels: dict[str, str]
    record_get: Callable[[dict[str, Any]], Any] | None
    currency: str | None
    columns_needed: list[tuple[str, list[str], bool]] = field(default_factory=list)


def compile_spec(spec: SourceSpec) -> CompiledSpec:
    """Check a spec's parser choices against the product fields and build its row closures."""
    present = _present_fn(spec.null_values)
    base_present = present

    def price_present(value: Any) -> bool:
        """For prices, NaN, [] and {} are broken values that the parser rejects with a reason, not "no price"."""
        kind = type(value)
        if kind is float or kind is list or kind is dict or kind is tuple:
            return True
        return base_present(value)

    fields: list[_Field] = []
    labels: dict[str, str] = {}
    needed: list[tuple[str, list[str], bool]] = []
    for target, fspec in spec.fields.items():
        parser_name = fspec.parser or _DEFAULT_PARSER[target]
        if parser_name not in _ALLOWED_PARSERS[target]:
            allowed = ", ".join(sorted(_ALLOWED_PARSERS[target]))
            raise SpecError(
                f"source {spec.name!r}: field {target!r} cannot use parser {parser_name!r} ({allowed})"
            )
        if fspec.rest_as is not None and parser_name != "categories":
            raise SpecError(
                f"source {spec.name!r}: field {target!r}: rest_as only applies to parser 'categories'"
            )
        parse = _with_pattern(fspec, _parser(fspec, parser_name))
        if parser_name in _CACHEABLE:
            parse = _cached(parse)
        fields.append(
            _Field(
                target=target,
                get=_getter(fspec, price_present if target == "price" else present, spec.null_values),
                parse=parse,
                lenient=fspec.on_error == "missing",
                pick=fspec.pick,
                rest_as=fspec.rest_as,
                categories=parser_name == "categories",
            )
        )
        labels[target] = ",".join(fspec.sources) or "(constant)"
        if fspec.sources and fspec.value is None:
            needed.append((target, fspec.sources, fspec.template is not None))
    attributes: list[_Attr] = []
    for aspec in spec.attributes:
        parser_name = aspec.parser or (
            "text" if aspec.name is not None and not aspec.prefixes else "attributes"
        )
        if parser_name not in _ATTRIBUTE_PARSERS:
            allowed = ", ".join(sorted(_ATTRIBUTE_PARSERS))
            raise SpecError(f"source {spec.name!r}: attributes cannot use parser {parser_name!r} ({allowed})")
        if aspec.prefixes:
            attributes.append(
                _Attr(None, tuple(aspec.prefixes), None, p.value_text, aspec.on_error == "missing", False)
            )
            continue
        base = _parser(aspec, parser_name)
        if parser_name == "bool":
            base = _bool_text
        elif parser_name in ("int", "float", "price"):
            base = partial(_number_text, base)
        attributes.append(
            _Attr(
                name=aspec.name,
                prefixes=(),
                get=_getter(aspec, present, spec.null_values),
                parse=_cached(_with_pattern(aspec, base))
                if parser_name in _CACHEABLE
                else _with_pattern(aspec, base),
                lenient=aspec.on_error == "missing",
                mapping=parser_name in ("kv", "attributes") and aspec.name is None,
            )
        )
        if aspec.value is None:
            needed.append(
                (f"attribute {aspec.name or parser_name}", aspec.sources, aspec.template is not None)
            )
    return CompiledSpec(
        spec=spec,
        fields=fields,
        attributes=attributes,
        present=present,
        nulls=frozenset(spec.null_values),
        labels=labels,
        record_get=_lookup_fn(spec.record_path) if spec.record_path else None,
        currency=spec.currency,
        columns_needed=needed,
    )


def check_columns(compiled: CompiledSpec, columns: Sequence[str], file: str) -> None:
    """Fail fast, naming the file and its real columns, when the mapping refers to columns it lacks.

    Only tabular files (CSV/TSV/parquet) have a fixed set of columns; a mapping typo there would otherwise
    reject (or silently empty) every row.
    """
    if compiled.spec.record_path:
        return  # the mapping addresses the nested record, not the file's columns
    have = set(columns)

    def known(name: str) -> bool:
        return name in have or name.split(".", 1)[0] in have

    for target, names, all_required in compiled.columns_needed:
        missing = [n for n in names if not known(n)]
        if (all_required and missing) or (not all_required and len(missing) == len(names)):
            shown = ", ".join(repr(c) for c in columns[:40])
            raise SpecError(
                f"{file}: {target} maps to {', '.join(repr(n) for n in missing)}, not a column of this file "
                f"(columns: {shown})"
            )


# ----------------------------------------------------------------------------------------------- rows


def _add_values(attributes: dict[str, list[str]], name: str, values: list[str]) -> None:
    bucket = attributes.get(name)
    if bucket is None:
        attributes[name] = list(dict.fromkeys(values))
        return
    for value in values:
        if value not in bucket:
            bucket.append(value)


class _Rejected(Exception):
    """Raised by the row helpers below; :func:`build_product` turns it into a :class:`Reject` (file, line)."""

    def __init__(self, field: str | None, reason: str, raw: Any = _MISSING) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.value = None if raw is _MISSING else short_repr(raw)


def build_product(compiled: CompiledSpec, data: dict[str, Any], file: str, line: int) -> Product | Reject:
    """One raw record -> a validated :class:`Product`, or the :class:`Reject` that says what was wrong.

    The steps are the helpers below, in order: mapped fields, the id and title every product needs, HTML
    entities, attributes (prefix columns and mapped ones), the spec's default currency, then pydantic. A helper
    rejects the row by raising :class:`_Rejected`, so the first fault found is the one reported.
    """
    name = compiled.spec.name
    attributes: dict[str, list[str]] = {}
    try:
        values = _field_values(compiled, data, attributes)
        native = _require_identity(compiled, values)
        _unescape_text_fields(values)
        for a in compiled.attributes:
            if a.prefixes:
                _add_prefixed_attributes(a, data, compiled.nulls, attributes)
            else:
                _add_mapped_attribute(a, data, attributes)
        if attributes:
            values["attributes"] = attributes
        if "currency" not in values and compiled.currency and "price" in values:
            values["currency"] = compiled.currency
        return _validated_product(compiled, native, values)
    except _Rejected as exc:
        return Reject(source=name, file=file, line=line, field=exc.field, reason=exc.reason, value=exc.value)


def _field_values(
    compiled: CompiledSpec, data: dict[str, Any], attributes: dict[str, list[str]]
) -> dict[str, Any]:
    """The mapped product fields of one record, parsed; empty values are left out (so defaults apply).

    A category field picks one path (``pick``); the other paths go to the ``rest_as`` attribute when the spec
    names one. A value that does not parse rejects the row, unless its field is lenient (then it is missing).
    """
    values: dict[str, Any] = {}
    for f in compiled.fields:
        raw, column = f.get(data)
        if raw is _MISSING:
            continue
        try:
            value = f.parse(raw)
        except ValueError as exc:
            if f.lenient:
                continue
            raise _Rejected(column, f"{f.target}: {exc}", raw) from None
        if f.categories:
            chosen, rest = p.choose_path(value, f.pick)  # type: ignore[arg-type]
            value = chosen
            if rest and f.rest_as:
                _add_values(attributes, f.rest_as, [" > ".join(path) for path in rest])
        if value is None or (not value and isinstance(value, (list, dict, str))):
            continue
        values[f.target] = value
    return values


def _require_identity(compiled: CompiledSpec, values: dict[str, Any]) -> Any:
    """Pop and return the record's native id; a row without an id or a title is rejected (no product)."""
    native = values.pop("id", None)
    if native is None:
        raise _Rejected(compiled.labels["id"], "id: missing")
    if "title" not in values:
        raise _Rejected(compiled.labels["title"], "title: missing")
    return native


def _unescape_text_fields(values: dict[str, Any]) -> None:
    """Decode HTML entities (``&amp;``, ``&#39;``) in the text fields: scraped catalogs carry them."""
    for target in _ENTITY_TARGETS:
        text = values.get(target)
        if isinstance(text, str) and "&" in text:
            values[target] = unescape_entities(text)


def _add_prefixed_attributes(
    a: _Attr, data: dict[str, Any], nulls: frozenset[str], attributes: dict[str, list[str]]
) -> None:
    """Every column under one of ``a``'s prefixes becomes an attribute named by the rest of the column name.

    Strings take the fast path (strip, skip nulls); other scalars go through :func:`_scalar_text`, whose error
    rejects the row unless ``a`` is lenient.
    """
    names, name_of = a.names, a.name_of
    for key, raw in data.items():
        attr = names.get(key, _MISSING)
        if attr is _MISSING:
            attr = name_of(key)
        if attr is None:
            continue
        if type(raw) is str:
            text: str | None = raw.strip()
            if not text or text in nulls:
                continue
        else:
            try:
                text = _scalar_text(raw, nulls)
            except ValueError as exc:
                if a.lenient:
                    continue
                raise _Rejected(key, f"attribute {attr!r}: {exc}", raw) from None
            if not text:
                continue
        bucket = attributes.get(attr)
        if bucket is None:
            attributes[attr] = [text]
        elif text not in bucket:
            bucket.append(text)


def _add_mapped_attribute(a: _Attr, data: dict[str, Any], attributes: dict[str, list[str]]) -> None:
    """One mapped attribute source, parsed: a mapping parser's keys, a dict's keys (prefixed with ``a.name``),
    a list or a single value (under ``a.name`` or the column)."""
    assert a.get is not None
    raw, column = a.get(data)
    if raw is _MISSING:
        return
    try:
        parsed = a.parse(raw)
    except ValueError as exc:
        if a.lenient:
            return
        raise _Rejected(column, f"attribute {a.name or column!r}: {exc}", raw) from None
    if a.mapping:
        for key, vals in parsed.items():
            _add_values(attributes, key, vals)
    elif isinstance(parsed, dict):
        for key, vals in parsed.items():
            _add_values(attributes, f"{a.name} {key}" if a.name else key, vals)
    elif isinstance(parsed, list):
        if parsed:
            _add_values(attributes, a.name or column, parsed)
    elif parsed:
        _add_values(attributes, a.name or column, [parsed])


def _validated_product(compiled: CompiledSpec, native: Any, values: dict[str, Any]) -> Product:
    """The :class:`Product`; its first validation error rejects the row, named by the source column."""
    name = compiled.spec.name
    try:
        return Product(product_id=f"{name}:{native}", source=name, **values)
    except ValidationError as exc:
        err = exc.errors()[0]
        target = str(err["loc"][0]) if err["loc"] else "record"
        raise _Rejected(
            compiled.labels.get(target, target), f"{target}: {err['msg']}", err.get("input")
        ) from None


# ------------------------------------------------------------------------------------------------ files


def _records_in(compiled: CompiledSpec, path: Path) -> Iterator[tuple[str, Iterator[RawRecord]]]:
    """``(display name, records)`` for every logical file inside ``path`` (zip members, gz, plain)."""
    spec = compiled.spec
    fmt = spec.resolved_format
    for display, binary in iter_binary_files(path, spec.zip_members):
        if fmt == "parquet":
            wanted = _parquet_columns(compiled)
            check_columns(compiled, parquet_columns(binary, display), display)
            binary.seek(0)
            yield display, guarded(iter_parquet(binary, display, wanted), display, parquet=True)
            continue
        stream = text_stream(binary, spec.encoding, spec.encoding_errors, display)
        if fmt == "jsonl":
            yield display, guarded(_with_companion(compiled, iter_jsonl(stream, display), display), display)
        elif fmt == "json":
            yield display, guarded(iter_json(stream, display), display)
        else:
            delimiter = spec.delimiter or ("\t" if fmt == "tsv" else ",")
            extra = _companion_columns(compiled)

            def on_header(columns: list[str], display: str = display, extra: list[str] = extra) -> None:
                check_columns(compiled, columns + extra, display)

            rows = iter_csv(
                stream,
                display,
                delimiter=delimiter,
                quotechar=spec.quotechar,
                header=spec.header,
                columns=spec.columns,
                on_header=on_header,
            )
            yield display, guarded(_with_companion(compiled, rows, display), display)


def _parquet_columns(compiled: CompiledSpec) -> list[str] | None:
    """The top-level columns the mapping reads, so parquet decodes only those (None: all, for prefixes)."""
    spec = compiled.spec
    if spec.record_path or any(a.prefixes for a in compiled.attributes):
        return None
    names: set[str] = set()
    for _, fspec in spec.fields.items():
        names.update(n.split(".", 1)[0] for n in fspec.sources)
        names.update(fspec.sources)
    for aspec in spec.attributes:
        names.update(n.split(".", 1)[0] for n in aspec.sources)
        names.update(aspec.sources)
    return sorted(names)


def _companion_columns(compiled: CompiledSpec) -> list[str]:
    companion = compiled.spec.companion
    if companion is None or companion.format == "jsonl":
        return []
    delimiter = companion.delimiter or ("\t" if companion.format == "tsv" else ",")
    for _, binary in iter_binary_files(companion.path):
        return csv_header(
            text_stream(binary, companion.encoding, "replace", str(companion.path)), delimiter, '"'
        )
    return []  # pragma: no cover


def _with_companion(compiled: CompiledSpec, rows: Iterator[RawRecord], display: str) -> Iterator[RawRecord]:
    """Merge each row with the companion file's row at the same position (rows are matched by order)."""
    companion = compiled.spec.companion
    if companion is None:
        yield from rows
        return
    if not companion.path.is_file():
        raise ReaderError(f"companion file not found: {companion.path}")
    for comp_display, binary in iter_binary_files(companion.path):
        stream = text_stream(binary, companion.encoding, compiled.spec.encoding_errors, comp_display)
        if companion.format == "jsonl":
            others = iter_jsonl(stream, comp_display)
        else:
            delimiter = companion.delimiter or ("\t" if companion.format == "tsv" else ",")
            others = iter_csv(stream, comp_display, delimiter=delimiter)
        for row in rows:
            other = next(others, None)
            if other is None:
                yield RawRecord(
                    row.file, row.line, None, f"the companion file {comp_display} has no row for this one"
                )
            elif row.data is None:
                yield row
            elif other.data is None:
                yield RawRecord(other.file, other.line, None, f"companion row: {other.error}")
            else:
                merged = dict(other.data)
                merged.update(row.data)
                yield RawRecord(row.file, row.line, merged)
        for other in others:
            yield RawRecord(
                other.file, other.line, None, f"companion row without a matching row in {display}"
            )
        return


def _digest(product_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(product_id.encode("utf-8"), digest_size=8).digest(), "little")


def _iter_spec(
    spec: SourceSpec, report: SourceReport, on_reject: RejectCallback | None, seen: set[int]
) -> Iterator[Product]:
    compiled = compile_spec(spec)
    try:
        files = expand_paths(spec.paths)
    except ReaderError as exc:
        raise SpecError(f"source {spec.name!r}: {exc}") from None
    for path in files:
        for display, records in _records_in(compiled, path):
            report.files.append(display)
            counts = FileCounts(file=display)
            report.per_file.append(counts)
            before = (report.read, report.loaded, report.rejected, report.duplicates)
            yield from _iter_records(compiled, records, report, on_reject, seen)
            counts.read, counts.loaded, counts.rejected, counts.duplicates = (
                now - then
                for now, then in zip(
                    (report.read, report.loaded, report.rejected, report.duplicates), before, strict=True
                )
            )


def _iter_records(
    compiled: CompiledSpec,
    records: Iterator[RawRecord],
    report: SourceReport,
    on_reject: RejectCallback | None,
    seen: set[int],
) -> Iterator[Product]:
    """The products of one file's records, each row counted once into ``report``."""
    spec, record_get = compiled.spec, compiled.record_get
    for record in records:
        if record.data is None:
            report.read += 1
            report.add_reject(
                Reject(source=spec.name, file=record.file, line=record.line, reason=record.error or "?"),
                on_reject,
            )
            continue
        if record_get is None:
            items: Any = (record.data,)
        else:
            selected = record_get(record.data)
            if isinstance(selected, dict):
                items = (selected,)
            elif isinstance(selected, list) and selected:
                items = selected
            else:
                report.read += 1
                reason = f"no product under {spec.record_path!r} in this record"
                report.add_reject(
                    Reject(
                        source=spec.name,
                        file=record.file,
                        line=record.line,
                        field=spec.record_path,
                        reason=reason,
                        value=None if selected is _MISSING else short_repr(selected),
                    ),
                    on_reject,
                )
                continue
        for item in items:
            report.read += 1
            if not isinstance(item, dict):
                report.add_reject(
                    Reject(
                        source=spec.name,
                        file=record.file,
                        line=record.line,
                        field=spec.record_path,
                        reason="expected a JSON object",
                        value=short_repr(item),
                    ),
                    on_reject,
                )
                continue
            try:
                result = build_product(compiled, item, record.file, record.line)
            except RecursionError:  # a mapped value nested deeper than the parsers can walk
                result = Reject(
                    source=spec.name, file=record.file, line=record.line, reason=too_deep_reason()
                )
            if isinstance(result, Reject):
                report.add_reject(result, on_reject)
                continue
            digest = _digest(result.product_id)
            if digest in seen:
                report.duplicates += 1
                continue
            seen.add(digest)
            report.loaded += 1
            yield result


def iter_source(
    spec: SourceSpec, report: SourceReport, on_reject: RejectCallback | None = None
) -> Iterator[Product]:
    """Stream the products of one spec, counting into ``report`` as rows are read.

    Bad rows never raise: each becomes a :class:`Reject` (kept in ``report.first_rejects``, passed to
    ``on_reject``). Problems with the spec or a whole file (missing file, unknown column) raise
    :class:`SpecError` / :class:`ReaderError` at once, since no row of that file could load.
    """
    yield from _iter_spec(spec, report, on_reject, set())


def iter_sources(
    specs: Sequence[SourceSpec], on_reject: RejectCallback | None = None
) -> tuple[list[SourceReport], Iterator[Product]]:
    """Merge several specs into one product stream with source-qualified ids.

    Specs sharing a ``name`` are one source (one report, one duplicate check); the reports are returned at
    once and fill in while the iterator is consumed, so they are final when it is exhausted.
    """
    groups: dict[str, list[SourceSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.name, []).append(spec)
    for spec in specs:
        compile_spec(spec)  # fail on a broken spec before any product is produced
    reports = [SourceReport(source=name) for name in groups]

    def products() -> Iterator[Product]:
        for report, members in zip(reports, groups.values(), strict=True):
            seen: set[int] = set()
            for spec in members:
                yield from _iter_spec(spec, report, on_reject, seen)

    return reports, products()


def check_sources(specs: Sequence[SourceSpec], show_progress: bool = True) -> list[SourceReport]:
    """Load every source without keeping the products (a dry run) and return the reports.

    Shows a rich progress line with the running count, since a full public release takes minutes.
    """
    reports, products = iter_sources(specs)
    if not show_progress:
        for _ in products:
            pass
        return reports
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("loading", total=None)
        for count, product in enumerate(products, 1):
            if count % 5000 == 0:
                bar.update(task, description=f"loading {product.source}: {count:,} products")
    return reports
