"""Value parsers: hand-picked real-world shapes plus property tests over generated values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog_loader import parsers as p

# ------------------------------------------------------------------------------------------------ prices


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("₹32,999", "32999"),
        ("₹9,99,999", "999999"),  # Indian lakh grouping
        ("139,99", "139.99"),  # decimal comma (WebMall)
        ("240.97", "240.97"),
        ("1.234,56 €", "1234.56"),
        ("$1,234.56", "1234.56"),
        ("€1.234", "1234"),
        ("Rs. 1,299", "1299"),
        ("EUR 12", "12"),
        ("US$ 5.5", "5.5"),
        ("CHF 1'299.90", "1299.90"),
        ("$10.99 - $15.99", "10.99"),  # a range yields the lowest price
        ("$10.99$15.99", "10.99"),  # WebShop's concatenated range
        (49.99, "49.99"),
        (12, "12"),
        ([3.5, 2.25], "2.25"),
    ],
)
def test_parse_price_accepts_real_formats(text: object, expected: str) -> None:
    assert p.parse_price(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "12 kg", "1,2,3", "1..2", "about 5", "5,,0", "$"])
def test_parse_price_rejects_garbage_with_the_value_in_the_message(text: str) -> None:
    with pytest.raises(ValueError, match="expected a price"):
        p.parse_price(text)


@pytest.mark.parametrize("text", ["-5", "$-3", "(5)", -1])
def test_parse_price_rejects_negative_prices(text: object) -> None:
    with pytest.raises(ValueError, match="negative"):
        p.parse_price(text)


@pytest.mark.parametrize("text", [None, "", "   "])
def test_missing_prices_are_none_not_errors(text: object) -> None:
    assert p.parse_price(text) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [], {}, {"amount": 5}])
def test_broken_prices_are_errors_not_missing(value: object) -> None:
    with pytest.raises(ValueError, match="price"):
        p.parse_price(value)


def test_explicit_decimal_separator_overrides_the_guess() -> None:
    assert p.parse_price("1,234") == Decimal("1234")
    assert p.parse_price("1,234", decimal=",") == Decimal("1.234")
    assert p.parse_price("1.234", decimal=".") == Decimal("1.234")


def _format(amount: Decimal, style: str, symbol: str) -> str:
    """Render a 2-decimal amount in US (1,234.56) or continental (1.234,56) style."""
    whole, frac = f"{amount:.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = ",".join(groups) + "." + frac if style == "us" else ".".join(groups) + "," + frac
    return f"{symbol}{text}" if symbol in ("$", "₹", "£") else f"{text} {symbol}".rstrip()


@settings(max_examples=300, deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**12),
    style=st.sampled_from(["us", "eu"]),
    symbol=st.sampled_from(["", "$", "€", "₹", "£", "EUR", "USD"]),
)
def test_price_round_trips_formatted_numbers_in_both_conventions(cents: int, style: str, symbol: str) -> None:
    amount = Decimal(cents) / 100
    assert p.parse_price(_format(amount, style, symbol)) == amount


@settings(max_examples=200, deadline=None)
@given(whole=st.integers(min_value=1000, max_value=10**9), sep=st.sampled_from([",", "."]))
def test_whole_amounts_with_thousands_separators_round_trip(whole: int, sep: str) -> None:
    assert p.parse_price(f"{whole:,}".replace(",", sep)) == Decimal(whole)


@given(cents=st.integers(min_value=0, max_value=10**12))
def test_cents_become_currency_units(cents: int) -> None:
    assert p.parse_cents(cents) == Decimal(cents) / 100
    assert p.parse_cents(str(cents)) == Decimal(cents) / 100


def test_cents_reject_fractions_and_negatives() -> None:
    with pytest.raises(ValueError, match="whole number of cents"):
        p.parse_cents(12.5)
    with pytest.raises(ValueError, match="negative"):
        p.parse_cents(-100)


# ----------------------------------------------------------------------------------------------- numbers


def test_counts_and_ratings() -> None:
    assert p.parse_int("2,255") == 2255
    assert p.parse_int("148.0") == 148
    assert p.parse_float("4.2") == 4.2
    assert p.parse_float("4,5") == 4.5
    assert p.parse_float("4.125") == 4.125  # a lone dot is never a thousands separator for plain numbers
    with pytest.raises(ValueError, match="whole number"):
        p.parse_int("2.5")
    with pytest.raises(ValueError, match="expected a number"):
        p.parse_float("abc")
    with pytest.raises(ValueError, match="boolean"):
        p.parse_float(True)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_int_round_trips_with_grouping(n: int) -> None:
    assert p.parse_int(f"{n:,}") == n
    assert p.parse_int(str(n)) == n


def test_bool_flags() -> None:
    for yes in ("1", "yes", "True", "in stock", 1, True):
        assert p.parse_bool(yes) is True
    for no in ("0", "no", "FALSE", "out of stock", 0, False):
        assert p.parse_bool(no) is False
    assert p.parse_bool("") is None
    with pytest.raises(ValueError, match="yes/no"):
        p.parse_bool("maybe")


# ------------------------------------------------------------------------------------------- text, lists


def test_text_refuses_containers() -> None:
    assert p.parse_text(" a ") == "a"
    assert p.parse_text(6.0) == "6"
    with pytest.raises(ValueError, match="expected a string, got list"):
        p.parse_text(["a", "b"])


def test_html_to_text_uses_a_real_parser() -> None:
    html = (
        "<div><p>Fast &amp; quiet <b>fan</b></p><ul><li>140&nbsp;mm</li><li>PWM</li></ul>"
        "<script>var x = '<p>not text</p>';</script><style>p {color: red}</style>5 &lt; 6</div>"
    )
    assert p.html_to_text(html) == "Fast & quiet fan\n140 mm\nPWM\n5 < 6"
    assert p.html_to_text("plain text") == "plain text"
    assert p.html_to_text("<p></p>") is None


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters=">,\\"), min_size=1), min_size=1, max_size=6)
)
def test_category_path_splitting_round_trips(parts: list[str]) -> None:
    expected = [part.strip() for part in parts if part.strip()]
    assert p.split_path(" > ".join(parts)) == expected
    assert p.split_path(expected) == expected


def test_several_categories_in_one_cell() -> None:
    paths = p.split_categories("Hama, Peripherals > Speakers, Cables\\, Adapters > HDMI")
    assert paths == [["Hama"], ["Peripherals", "Speakers"], ["Cables, Adapters", "HDMI"]]
    assert p.choose_path(paths, "first") == (
        ["Hama"],
        [["Peripherals", "Speakers"], ["Cables, Adapters", "HDMI"]],
    )
    chosen, rest = p.choose_path(paths, "deepest")
    assert chosen == ["Peripherals", "Speakers"]
    assert rest == [["Hama"], ["Cables, Adapters", "HDMI"]]


@given(st.lists(st.text(alphabet="abcxyz 0123", min_size=1, max_size=8), max_size=8))
def test_list_splitting_keeps_every_non_blank_item(items: list[str]) -> None:
    assert p.parse_list("|".join(items), "|") == [i.strip() for i in items if i.strip()]


def test_lists_reject_nested_values() -> None:
    with pytest.raises(ValueError, match="nested dict"):
        p.parse_list([{"a": 1}])


# ------------------------------------------------------------------------------------------- attributes


def test_kv_specification_like_shoppingbench() -> None:
    spec = "brand:heart string;tool compatible with surfaces::wood;material:Katrina; Beatrice;;:orphan;x:1"
    assert p.parse_kv_pairs(spec) == {
        "brand": ["heart string"],
        "tool compatible with surfaces": ["wood"],
        "material": ["Katrina; Beatrice"],
        "x": ["1"],
    }


@given(
    st.dictionaries(
        st.text(alphabet="abcdefgh_ ", min_size=1, max_size=10).filter(lambda s: s.strip()),
        st.text(alphabet="abcdefgh0123 .-", min_size=1, max_size=10).filter(lambda s: s.strip()),
        max_size=6,
    )
)
def test_kv_pairs_round_trip(pairs: dict[str, str]) -> None:
    text = ";".join(f"{k}:{v}" for k, v in pairs.items())
    expected: dict[str, list[str]] = {}
    for k, v in pairs.items():
        name, value = " ".join(k.split()), " ".join(v.split())
        if value not in expected.setdefault(name, []):
            expected[name].append(value)
    assert p.parse_kv_pairs(text) == expected


def test_attributes_from_mappings_and_json() -> None:
    assert p.parse_attributes({"size": ["S", "M"], "weight": 2.0, "ok": True, "dims": {"w": 3, "h": 4}}) == {
        "size": ["S", "M"],
        "weight": ["2"],
        "ok": ["yes"],
        "dims": ["w: 3; h: 4"],
    }
    assert p.parse_attributes('{"Brand": "Acme"}') == {"Brand": ["Acme"]}
    with pytest.raises(ValueError, match="JSON object"):
        p.parse_attributes("{broken")


def test_options_shapes() -> None:
    sku = {"1": {"size": "1/4 violin bow"}, "2": {"size": "3/4 violin bow", "color": "red"}}
    assert p.parse_options(sku) == [{"size": "1/4 violin bow"}, {"size": "3/4 violin bow", "color": "red"}]
    webshop = {"color": [{"value": "red", "image": "x.jpg"}, {"value": "blue"}], "size": ["S"], "none": None}
    assert p.parse_options(webshop) == [{"color": "red"}, {"color": "blue"}, {"size": "S"}]
    assert p.parse_options([{"size": 9}]) == [{"size": "9"}]
    with pytest.raises(ValueError, match="option dicts"):
        p.parse_options(["S", "M"])
