"""Reusable value parsers: the small, pure functions a source spec strings together.

Every parser takes one raw value (whatever a CSV cell, a JSON value or a parquet cell holds) and returns the
normalized value, ``None`` when the value is *missing* (empty), or raises :class:`ValueError` with a message that
says what was expected. Keeping "missing" (a row that simply lacks an optional fact, which still loads) apart from
"invalid" (a value that is there but wrong, which rejects the row) is what lets the loader report every bad row
without inventing facts for the good ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any, Literal

DecimalSeparator = Literal["auto", ".", ","]

_NUMBER_RUN = re.compile(r"[0-9](?:[0-9.,\u00a0\u202f'’ _]*[0-9])?")
_RANGE_SPLIT = re.compile(r"\s+(?:-|to)\s+|\s*[–—]\s*")
_SYMBOLS = re.compile(r"[^\w\s+\-]", re.UNICODE)
# Words that may stand next to the digits of a price: ISO codes (any three capitals) and common local marks.
_CURRENCY_WORDS = frozenset(
    {"rs", "us", "c", "a", "hk", "nz", "s", "r", "kr", "zł", "fr", "ft", "kč", "lei", "php"}
)

CURRENCY_SYMBOLS: dict[str, str] = {
    "₹": "INR",
    "€": "EUR",
    "£": "GBP",
    "₱": "PHP",
    "¥": "JPY",
    "₩": "KRW",
    "₺": "TRY",
    "₽": "RUB",
    "$": "USD",
}


def is_missing(value: Any) -> bool:
    """True for the values that mean "no value here": None, NaN and blank strings or empty containers."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple, dict, set)):
        return len(value) == 0
    return False


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------- numbers


def _split_number(text: str, decimal: DecimalSeparator, dot_groups: bool) -> str:
    """Turn ``"1.234,56"`` / ``"1,234.56"`` / ``"12,34,567"`` into a plain ``"1234.56"`` string.

    ``decimal="auto"`` decides per value: with both ``.`` and ``,`` present the last one is the decimal mark; a
    repeated separator groups thousands; a single comma followed by exactly three digits after a 1-3 digit,
    non-zero-led integer part groups thousands (``"2,255"`` is 2255) and so does such a single dot when
    ``dot_groups`` is set (prices: ``"€1.234"``); any other single separator is the decimal mark (``"139,99"``,
    ``"240.97"``, ``"4.125"``). Set ``decimal`` explicitly for sources where that guess is wrong.
    """
    compact = text
    for ch in "\u00a0\u202f '’_":
        compact = compact.replace(ch, "")
    if not compact:
        raise ValueError("no digits")
    if decimal == "auto":
        last_dot, last_comma = compact.rfind("."), compact.rfind(",")
        if last_dot >= 0 and last_comma >= 0:
            decimal = "." if last_dot > last_comma else ","
        elif last_dot < 0 and last_comma < 0:
            decimal = "."
        else:
            sep = "." if last_dot >= 0 else ","
            other = "," if sep == "." else "."
            head, _, tail = compact.rpartition(sep)
            if compact.count(sep) > 1:
                decimal = other  # a repeated separator can only group thousands
            elif len(tail) == 3 and 1 <= len(head) <= 3 and head[0] != "0" and (sep == "," or dot_groups):
                decimal = other
            else:
                decimal = sep
    group = "," if decimal == "." else "."
    int_part, has_dec, frac_part = compact.partition(decimal)
    if group in frac_part or (has_dec and not frac_part) or decimal in frac_part:
        raise ValueError("misplaced separator")
    groups = int_part.split(group)
    # Western (1,234,567) and Indian (12,34,567) grouping: the last group has 3 digits, inner groups 2 or 3.
    if len(groups) > 1 and (
        not groups[0] or len(groups[-1]) != 3 or any(len(g) not in (2, 3) for g in groups[1:-1])
    ):
        raise ValueError("bad digit grouping")
    digits = "".join(groups)
    if not digits.isdigit() or (frac_part and not frac_part.isdigit()):
        raise ValueError("not a number")
    return f"{digits}.{frac_part}" if frac_part else digits


def parse_decimal(value: Any, decimal: DecimalSeparator = "auto") -> Decimal | None:
    """A plain number (no currency) as an exact Decimal; thousands separators and decimal commas allowed."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got a boolean {_short(value)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a number, got {type(value).__name__} {_short(value)}")
    text = value.strip()
    sign = ""
    if text[:1] in "+-":
        sign, text = ("-" if text[0] == "-" else ""), text[1:].strip()
    try:
        return Decimal(sign + _split_number(text, decimal, dot_groups=False))
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f"expected a number, got {_short(value)} ({exc})") from None


def _strip_currency(text: str) -> str:
    """The signed digits of one price, with currency symbols and codes (``₹``, ``US$``, ``EUR``, ``Rs.``) gone.

    Anything else next to the number (``"12 kg"``, ``"about 5"``) raises: a price column holding other text is
    a data error worth reporting, not something to guess around.
    """
    match = _NUMBER_RUN.search(text)
    if match is None:
        raise ValueError("no digits")
    before, after = text[: match.start()], text[match.end() :]
    for part in (before, after):
        for word in _SYMBOLS.sub(" ", part).replace("-", " ").replace("+", " ").split():
            if (
                not (len(word) == 3 and word.isalpha() and word.isupper())
                and word.lower() not in _CURRENCY_WORDS
            ):
                raise ValueError(f"unexpected text {part.strip()!r}")
    sign = "-" if "-" in before or "(" in before else ""
    return sign + match.group(0)


def parse_price(value: Any, decimal: DecimalSeparator = "auto") -> Decimal | None:
    """A price as an exact Decimal: currency symbols/codes, thousands separators and decimal commas allowed.

    A range (``"$10.99 - $15.99"``, ``"$10.99$15.99"``) or a list of prices yields its lowest price, the one a
    shopper can actually pay. Negative prices raise: a catalog price below zero is a data error, not a discount.
    NaN / infinite numbers, empty lists and objects raise too: they are broken values, not "no price" (a
    missing price is ``null``, an absent field or an empty string).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"price must be a finite number, got {value!r}")
    if isinstance(value, (list, tuple)) and not value:
        raise ValueError("price is an empty list")
    if isinstance(value, dict):
        raise ValueError(f"price must be a number or text, got an object with {len(value)} keys")
    if is_missing(value):
        return None
    if isinstance(value, (list, tuple)):
        prices = [p for p in (parse_price(v, decimal) for v in value) if p is not None]
        return min(prices) if prices else None
    if isinstance(value, str):
        text = value.strip()
        parts = [p for p in _RANGE_SPLIT.split(text) if p.strip()] if len(text) > 1 else [text]
        if len(parts) == 1 and text.count("$") > 1:
            parts = [p for p in text.split("$") if p.strip()]
        if len(parts) > 1:
            return min(_parse_one_price(p, decimal, value) for p in parts)
        return _parse_one_price(text, decimal, value)
    price = parse_decimal(value, decimal)
    if price is not None and price < 0:
        raise ValueError(f"price must not be negative, got {_short(value)}")
    return price


def _parse_one_price(text: str, decimal: DecimalSeparator, original: Any) -> Decimal:
    try:
        number = _strip_currency(text.strip())
        sign = ""
        if number.startswith("-"):
            sign, number = "-", number[1:]
        price = Decimal(sign + _split_number(number, decimal, dot_groups=True))
        if not price.is_finite():
            raise ValueError("not a finite number")
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(
            f"expected a price such as '₹1,299' or '139,99', got {_short(original)} ({exc})"
        ) from None
    if price < 0:
        raise ValueError(f"price must not be negative, got {_short(original)}")
    return price


def parse_cents(value: Any) -> Decimal | None:
    """An integer amount of cents (``4995``) as a Decimal in currency units (``49.95``)."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected whole cents, got a boolean {_short(value)}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"expected a whole number of cents, got {_short(value)}")
    if value < 0:
        raise ValueError(f"price must not be negative, got {_short(value)}")
    return Decimal(value) / 100


def parse_int(value: Any) -> int | None:
    """A count such as ``"2,255"``, ``"148.0"`` or ``42``; fractional values raise."""
    if is_missing(value):
        return None
    number = parse_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole number, got {_short(value)}")
    return int(number)


def parse_float(value: Any) -> float | None:
    """A real number (``"4.2"``, ``"4,2"``, ``4``)."""
    number = parse_decimal(value)
    return None if number is None else float(number)


_TRUE = frozenset({"1", "true", "yes", "y", "t", "in stock", "instock", "available", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "out of stock", "outofstock", "unavailable", "off"})


def parse_bool(value: Any) -> bool | None:
    """Yes/no flags: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``in stock``/``out of stock``."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise ValueError(f"expected a yes/no flag such as 1/0 or true/false, got {_short(value)}")


# ------------------------------------------------------------------------------------------------------ text


def parse_text(value: Any) -> str | None:
    """A single string; numbers are rendered, lists/dicts raise (a list where a string is expected is a bug)."""
    if type(value) is str:
        return value.strip() or None
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise ValueError(f"expected a string, got {type(value).__name__} {_short(value)}")


def format_number(value: float) -> str:
    """``6.0`` -> ``"6"``, ``2.13`` -> ``"2.13"``: how an attribute number reads to a person."""
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def value_text(value: Any) -> str | None:
    """Any scalar as display text (attributes accept numbers and flags as well as strings)."""
    if isinstance(value, dict):
        parts = [f"{k}: {t}" for k, v in value.items() if (t := value_text(v))]
        return "; ".join(parts) or None
    if isinstance(value, (list, tuple)):
        parts = [t for v in value if (t := value_text(v))]
        return ", ".join(parts) or None
    return parse_text(value)


_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "noscript", "template"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment, with a line break at every block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: Any) -> str | None:
    """Visible text of an HTML fragment (tags dropped, entities decoded, scripts and styles removed).

    Uses the standard library's HTML tokenizer, which copes with the broken markup shop exports contain; block
    elements become line breaks and runs of blank space collapse, so paragraphs stay readable.
    """
    text = parse_text(value)
    if text is None:
        return None
    if "<" not in text and "&" not in text:
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line) or None


# ---------------------------------------------------------------------------------------------------- lists


def parse_list(value: Any, separator: str | None = None) -> list[str]:
    """A list of strings from a JSON list or a delimited string (``"a|b|c"`` with ``separator="|"``)."""
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            if isinstance(item, (list, tuple, dict)):
                raise ValueError(
                    f"expected a list of strings, got a nested {type(item).__name__} {_short(item)}"
                )
            text = parse_text(item)
            if text:
                out.append(text)
        return out
    if isinstance(value, str):
        if separator is None:
            text = value.strip()
            return [text] if text else []
        return [part.strip() for part in value.split(separator) if part.strip()]
    text = parse_text(value)
    return [text] if text else []


def split_path(value: Any, separator: str = ">") -> list[str]:
    """A category path, root first: ``"A > B > C"`` (or a list) -> ``["A", "B", "C"]``."""
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        return parse_list(value)
    text = parse_text(value)
    if text is None:
        return []
    return [part.strip() for part in text.split(separator) if part.strip()]


def split_categories(value: Any, separator: str = ",", path_separator: str = ">") -> list[list[str]]:
    """Several category paths in one cell (WooCommerce: ``"A > B, C > D"``; ``\\,`` escapes a comma in a name)."""
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        items: list[Any] = list(value)
    else:
        text = parse_text(value) or ""
        placeholder = "\x00"
        escaped = text.replace("\\" + separator, placeholder)
        items = [part.replace(placeholder, separator) for part in escaped.split(separator)]
    paths = [split_path(item, path_separator) for item in items]
    return [path for path in paths if path]


def choose_path(
    paths: list[list[str]], pick: Literal["first", "deepest"] = "first"
) -> tuple[list[str], list[list[str]]]:
    """Pick the main category path among several; returns ``(chosen, the others)``."""
    if not paths:
        return [], []
    index = 0
    if pick == "deepest":
        index = max(range(len(paths)), key=lambda i: (len(paths[i]), -i))
    return paths[index], paths[:index] + paths[index + 1 :]


# ------------------------------------------------------------------------------------- attributes and options


def _add(attributes: dict[str, list[str]], name: str, values: Iterable[str]) -> None:
    name = " ".join(name.split())
    if not name:
        return
    bucket = attributes.setdefault(name, [])
    for value in values:
        value = " ".join(value.split())
        if value and value not in bucket:
            bucket.append(value)
    if not bucket:
        del attributes[name]


def parse_kv_pairs(value: Any, separator: str = ";", kv_separator: str = ":") -> dict[str, list[str]]:
    """``"k:v;k:v"`` specifications -> attributes. A piece without ``kv_separator`` continues the previous
    value (``"material:Katrina; Beatrice"``), and ``"k::v"`` keeps ``v``; pieces with an empty name are dropped."""
    if is_missing(value):
        return {}
    text = parse_text(value) or ""
    pairs: list[list[str]] = []
    for piece in text.split(separator):
        if kv_separator in piece:
            name, _, val = piece.partition(kv_separator)
            pairs.append([name.strip(), val.strip().lstrip(kv_separator).strip()])
        elif pairs and piece.strip():
            pairs[-1][1] = f"{pairs[-1][1]}{separator} {piece.strip()}" if pairs[-1][1] else piece.strip()
    attributes: dict[str, list[str]] = {}
    for name, val in pairs:
        _add(attributes, name, [val])
    return attributes


def parse_attributes(value: Any) -> dict[str, list[str]]:
    """A name -> value(s) mapping from a dict (values: strings, numbers, lists, nested dicts), a JSON object
    string, or a list of ``"name: value"`` strings."""
    if is_missing(value):
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"expected a JSON object of attributes, got {_short(value)} ({exc.msg})"
                ) from None
        else:
            return parse_kv_pairs(text)
    attributes: dict[str, list[str]] = {}
    if isinstance(value, Mapping):
        for name, raw in value.items():
            if isinstance(raw, (list, tuple)):
                _add(attributes, str(name), [t for v in raw if (t := value_text(v))])
            else:
                text = value_text(raw)
                if text:
                    _add(attributes, str(name), [text])
        return attributes
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Mapping):
                for name, vals in parse_attributes(item).items():
                    _add(attributes, name, vals)
            elif isinstance(item, str):
                for name, vals in parse_kv_pairs(item).items():
                    _add(attributes, name, vals)
            else:
                raise ValueError(f"expected attribute entries, got {_short(item)}")
        return attributes
    raise ValueError(f"expected a mapping of attributes, got {type(value).__name__} {_short(value)}")


def parse_options(value: Any) -> list[dict[str, str]]:
    """Variants as a list of ``{option: value}`` dicts, from any of the common shapes:

    - ShoppingBench ``sku_options``: ``{"1": {"size": "S", "color": "red"}, "2": {...}}`` (one dict per SKU);
    - WebShop ``customization_options``: ``{"color": [{"value": "red", "image": ...}, ...], "size": [...]}``
      and ``{"color": ["red", "blue"]}`` (one dict per offered value);
    - a list of dicts already in the target shape.
    """
    if is_missing(value):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"expected options as a JSON object or list, got {_short(value)} ({exc.msg})"
            ) from None
    options: list[dict[str, str]] = []
    if isinstance(value, Mapping):
        for key, entry in value.items():
            if isinstance(entry, Mapping):  # sku id -> {name: value}
                variant = {str(k): t for k, v in entry.items() if (t := value_text(v))}
                if variant:
                    options.append(variant)
            elif isinstance(entry, (list, tuple)):  # option name -> offered values
                for item in entry:
                    raw = item.get("value") if isinstance(item, Mapping) else item
                    text = value_text(raw)
                    if text:
                        options.append({str(key): text})
            elif entry is not None:
                text = value_text(entry)
                if text:
                    options.append({str(key): text})
        return options
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, Mapping):
                raise ValueError(f"expected option dicts, got {_short(item)}")
            variant = {str(k): t for k, v in item.items() if (t := value_text(v))}
            if variant:
                options.append(variant)
        return options
    raise ValueError(f"expected options as a mapping or a list, got {type(value).__name__} {_short(value)}")


def extract_pattern(value: Any, pattern: re.Pattern[str]) -> str | None:
    """The first capture group (or the whole match) of ``pattern`` in the text; ``None`` when it does not match."""
    text = parse_text(value)
    if text is None:
        return None
    match = pattern.search(text)
    if match is None:
        return None
    return match.group(1) if pattern.groups else match.group(0)
