"""Claim extraction and grounding against real catalog records (the rules in sandbox.rewards.grounding)."""

from __future__ import annotations

import pytest

from sandbox.catalog.backend import products_by_id
from sandbox.citations import cited_product_ids
from sandbox.rewards.grounding import check_report, claim_units, extract_claims, grounding_accuracy

CORE = "bestbuy:3953367"  # Samsung Galaxy Core Prime, 8GB Memory, $124.99
S7 = "bestbuy:4893100"  # Samsung Galaxy S7 32GB, $679.99
IPHONE = "bestbuy:5005514"  # Apple iPhone SE 16GB, $449.99
BOOK = "amazon_in:0199692696"  # Oxford Spanish Mini Dictionary, ₹412, rated 4.6
BOW = "shoppingbench:3706669986"  # Heart String violin bow, PHP 256
BOARD = "webmall:1-1546"  # Asus PRIME B650M-A WIFI II, 139.99 (WebMall lists no currency)


def verdicts(backend, report: str) -> list[tuple[str, str, list[str]]]:
    products = products_by_id(backend, cited_product_ids(report))
    return [(c.claim.kind, c.verdict, c.claim.values) for c in check_report(report, products)]


@pytest.mark.parametrize(
    ("sentence", "verdict"),
    [
        (f"The Core Prime [P:{CORE}] costs $124.99.", "agrees"),
        (f"The Core Prime [P:{CORE}] costs about $125.", "agrees"),  # within 1%
        (f"The Core Prime [P:{CORE}] costs $139.99.", "disagrees"),
        (f"The dictionary [P:{BOOK}] is ₹412.", "agrees"),
        (f"The dictionary [P:{BOOK}] is Rs. 412.", "agrees"),
        (f"The dictionary [P:{BOOK}] is 412 INR.", "agrees"),
        (f"The dictionary [P:{BOOK}] is $412.", "disagrees"),  # right number, wrong currency
        (f"The bow [P:{BOW}] sells for PHP 256.", "agrees"),
        (f"The bow [P:{BOW}] sells for ₱1,256.", "disagrees"),
    ],
)
def test_price_claims(backend, sentence: str, verdict: str) -> None:
    assert [(kind, result) for kind, result, _ in verdicts(backend, sentence)] == [("price", verdict)]


def test_limits_and_differences_are_not_price_claims(backend) -> None:
    text = (
        f"The Core Prime [P:{CORE}] costs $124.99, well under the $700 budget, and saves $20 over last year."
    )
    assert verdicts(backend, text) == [("price", "agrees", ["$124.99"])]
    assert verdicts(backend, f"Under $700: the Core Prime [P:{CORE}].") == []


def test_sentences_with_several_products_are_split(backend) -> None:
    text = f"The Core Prime [P:{CORE}] costs $124.99, while the S7 [P:{S7}] costs $679.99."
    units = claim_units(text)
    assert [u.product_ids for u in units] == [[CORE], [S7]]
    assert [v for _, v, _ in verdicts(backend, text)] == ["agrees", "agrees"]
    swapped = f"The Core Prime [P:{CORE}] costs $679.99, while the S7 [P:{S7}] costs $124.99."
    assert [v for _, v, _ in verdicts(backend, swapped)] == ["disagrees", "disagrees"]
    both = f"[P:{CORE}] and [P:{S7}] cost $124.99 and $679.99 respectively."
    assert verdicts(backend, both) == [("price", "agrees", ["$124.99", "$679.99"])]


def test_brand_claims(backend) -> None:
    report = f"Samsung makes the Core Prime [P:{CORE}].\nThe Apple iPhone SE [P:{IPHONE}] is small."
    assert sorted(v for v in verdicts(backend, report) if v[0] == "brand") == [
        ("brand", "agrees", ["Apple"]),
        ("brand", "agrees", ["Samsung"]),
    ]
    wrong = f"Apple makes the Core Prime [P:{CORE}].\nThe iPhone SE [P:{IPHONE}] is small."
    assert ("brand", "disagrees", ["Apple"]) in verdicts(backend, wrong)
    lowercase = f"The samsung-like apple green finish of [P:{CORE}] is nice.\nSee also [P:{IPHONE}]."
    assert verdicts(backend, lowercase) == []  # brands count only when capitalised


def test_attribute_and_rating_claims(backend) -> None:
    assert verdicts(backend, f"It has 8GB of memory [P:{CORE}].") == [("attribute", "agrees", ["8 GB"])]
    assert verdicts(backend, f"It has 16 GB of memory [P:{CORE}].") == [("attribute", "disagrees", ["16 GB"])]
    assert verdicts(backend, f"It has a 5-inch screen [P:{CORE}].") == [
        ("attribute", "unverifiable", ["5 inch"])
    ]
    assert verdicts(backend, f"The dictionary [P:{BOOK}] is rated 4.6 stars.") == [
        ("rating", "agrees", ["4.6"])
    ]
    assert verdicts(backend, f"The dictionary [P:{BOOK}] scores 4.9/5.") == [("rating", "disagrees", ["4.9"])]
    assert verdicts(backend, f"The Core Prime [P:{CORE}] has 5 stars.") == [("rating", "unverifiable", ["5"])]


def test_uncited_text_and_unknown_ids(backend) -> None:
    assert extract_claims("The S7 costs $1 and has 99 GB.") == []
    checks = check_report("The phantom [P:bestbuy:0] costs $1.", {})
    assert [c.verdict for c in checks] == ["unverifiable"]


def test_accuracy(backend) -> None:
    report = f"[P:{CORE}] costs $124.99.\n[P:{S7}] costs $1.\n[P:{CORE}] has 5 inch."
    products = products_by_id(backend, cited_product_ids(report))
    checks = check_report(report, products)
    assert (
        grounding_accuracy(checks) == 0.5
    )  # one of two checkable claims agrees; the inch claim is unverifiable
    assert grounding_accuracy([]) is None


@pytest.mark.parametrize(
    ("sentence", "verdict"),
    [
        (f"The Asus board [P:{BOARD}]: price 139.99.", "agrees"),
        (f"The Asus board [P:{BOARD}] is priced at 139.99 and has Wi-Fi.", "agrees"),
        (f"Get the Asus board [P:{BOARD}] at 149.99.", "disagrees"),
    ],
)
def test_price_claims_without_a_currency(backend, sentence: str, verdict: str) -> None:
    """Regression: a currency-less catalog (WebMall, Icecat) had no checkable price claim, so the honest
    report's grounding was null and cost the reward its grounding weight."""
    assert [(kind, result) for kind, result, _ in verdicts(backend, sentence) if kind == "price"] == [
        ("price", verdict)
    ]


def test_bare_amounts_are_no_price_claims_for_priced_currencies(backend) -> None:
    assert [k for k, _, _ in verdicts(backend, f"The Core Prime [P:{CORE}]: price 124.99.")] == []
