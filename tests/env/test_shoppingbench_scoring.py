"""The two ShoppingBench scoring modes on hand-written cases, one per documented difference.

Expected ``shoppingbench`` values follow the published ``orm.py`` / ``run_evaluate.py`` logic line by line
(worked out in each comment); expected ``prgym`` values are the lenient rules documented in docs/env.md.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.catalog.product import Product
from sandbox.rewards.reward import CompositeReward, EpisodeSummary, RewardConfig
from sandbox.rewards.shoppingbench import (
    FIELDS,
    ShoppingBenchCrash,
    length_reward,
    record_from_product,
    reward_of,
    rule_score_exact,
    score_item,
    score_shopping_task,
)
from sandbox.tasks.models import PriceRange, ShoppingTarget, ShoppingTask
from sandbox.tasks.shoppingbench import parse_task_line

TITLE = "Cotton Crew Neck Shirt"


def _product(pid: str, **fields) -> Product:
    return Product.model_validate(
        {"product_id": f"shoppingbench:{pid}", "title": TITLE, "source": "shoppingbench", **fields}
    )


def _task(items: list[ShoppingTarget], **fields) -> ShoppingTask:
    return ShoppingTask(
        task_id="t", query="q", task_type=fields.pop("task_type", "product"), items=items, **fields
    )


def test_quirk1_names_values_and_services_compare_exactly() -> None:
    target = ShoppingTarget(
        product_id="1", titles=[TITLE], attributes=[{"Color": ["Red"]}], service=["Free Shipping"]
    )
    product = _product("2", attributes={"color": ["red "]}, services=["free shipping"])
    # published: title hit (same title); ("Color", "Red") not in {("color", "red")}: miss; "Free Shipping" not in
    # ["free shipping"]: miss -> 1 / 3
    exact = score_item(product, target, scoring="shoppingbench")
    assert exact.r_pro == pytest.approx(1 / 3)
    assert exact.field_scores() == {"title": 1.0, "price": 1.0, "service": 0.0, "sku & attrs": 0.0}
    # prgym: every name/value/service compares case- and whitespace-insensitively -> 3 / 3
    assert score_item(product, target, scoring="prgym").r_pro == 1.0


def test_quirk2_specification_is_not_an_attribute_in_the_published_code() -> None:
    raw = {
        "product_id": "2",
        "title": TITLE,
        "attributes": {"brand": ["acme"]},
        "specification": "material:cotton;brand:acme",
        "sku_options": {},
        "service": [],
        "price": 100.0,
        "shop_id": "s",
        "description": "",
    }
    # the catalog loader merges the specification into the attributes
    loaded = _product(
        "2", attributes={"brand": ["acme"], "material": ["cotton"]}, price=Decimal(100), shop_id="s"
    )
    target = ShoppingTarget(product_id="1", titles=[TITLE], attributes=[{"material": ["cotton"]}])
    # published: title hit, ("material", "cotton") only in the specification string: miss -> 1 / 2
    assert score_item(loaded, target, scoring="shoppingbench", record=raw).r_pro == 0.5
    assert score_item(loaded, target, scoring="prgym").r_pro == 1.0
    # the raw record comes from the task set's web records when the env scores
    web = parse_task_line(
        {"query": "q", "Knowledge_Attribute": "x", "reward": {**raw, "product_id": "2"}}, "web", "w"
    )
    task = _task([target])
    score = score_shopping_task(
        task, [loaded], scoring="shoppingbench", records={"2": web.items[0].record}.get
    )
    assert score.r_pro == 0.5
    assert score_shopping_task(task, [loaded], scoring="prgym").r_pro == 1.0


def test_quirk3_missing_or_null_fields_crash_the_published_code() -> None:
    target = ShoppingTarget(product_id="1", titles=[TITLE], price=[PriceRange(mode="less than", high=50)])
    unpriced = _product("2")  # price null
    with pytest.raises(ShoppingBenchCrash) as info:
        rule_score_exact(record_from_product(unpriced), reward_of(target))
    assert info.value.field == "price"
    with pytest.raises(ShoppingBenchCrash):  # a null price in the record itself: TypeError on <=
        rule_score_exact({**record_from_product(unpriced), "price": None}, reward_of(target))
    exact = score_shopping_task(_task([target]), [unpriced], scoring="shoppingbench")
    assert exact.crash is not None and "price" in exact.crash
    assert (exact.success, exact.r_pro) == (False, 0.0)
    # prgym: the unpriced product misses the price range, the title still hits -> 1 / 2
    lenient = score_shopping_task(_task([target]), [unpriced], scoring="prgym")
    assert (lenient.crash, lenient.r_pro) == (None, 0.5)
    # a missing service list crashes too (KeyError on product["service"])
    serviced = ShoppingTarget(product_id="1", titles=[TITLE], service=["COD"])
    record = {k: v for k, v in record_from_product(_product("2")).items() if k != "service"}
    with pytest.raises(ShoppingBenchCrash, match="service"):
        rule_score_exact(record, reward_of(serviced))


def test_quirk4_null_shop_ids_count_as_one_shop() -> None:
    items = [ShoppingTarget(product_id="1", titles=["a"]), ShoppingTarget(product_id="2", titles=["b"])]
    task = _task(items, task_type="shop", same_shop=True)
    shopless = [_product("1"), _product("2")]  # exact ids, shop_id null
    exact = score_shopping_task(task, shopless, scoring="shoppingbench")
    # published: shop_ids = {None}, len 1 -> shop = 1; rule = (1 + 1) / 2 = 1 -> success
    assert (exact.same_shop, exact.success) == (True, True)
    lenient = score_shopping_task(task, shopless, scoring="prgym")
    assert (lenient.same_shop, lenient.success) == (False, False)
    # with real shop ids both modes agree
    shops = [_product("1", shop_id="s"), _product("2", shop_id="s")]
    assert score_shopping_task(task, shops, scoring="shoppingbench").success
    assert score_shopping_task(task, shops, scoring="prgym").success


def _web_task(knowledge: str) -> ShoppingTask:
    record = {"product_id": "123", "title": TITLE, "description": "x", "shop_id": "s", "price": 10.0}
    return parse_task_line({"query": "q", "Knowledge_Attribute": knowledge, "reward": record}, "web", "w")


def test_quirk5_web_knowledge_on_raw_text() -> None:
    task = _web_task("1977 ")  # the real record's knowledge attribute has a trailing space
    raw = {"product_id": "9", "title": TITLE, "description": "Founded in 1977\xa0in Manila", "shop_id": "s"}
    loaded = _product(
        "9", description=raw["description"]
    )  # the loader normalises: "Founded in 1977 in Manila"
    assert loaded.description == "Founded in 1977 in Manila"
    # published: "1977 " in "founded in 1977\xa0in manila" is False -> kw 0, title 1 -> rule 0.5, no success
    exact = score_shopping_task(task, [loaded], scoring="shoppingbench", records={"9": raw}.get)
    assert (exact.knowledge_ok, exact.r_pro, exact.success) == (False, 0.5, False)
    lenient = score_shopping_task(task, [loaded], scoring="prgym")
    assert (lenient.knowledge_ok, lenient.r_pro, lenient.success) == (True, 1.0, True)
    # published: kw = "" -> "" in "... ".lower() is True -> kw 1, title 1 -> success; prgym: an empty
    # attribute is a miss -> 0.5
    empty = _web_task("")
    exact = score_shopping_task(empty, [loaded], scoring="shoppingbench", records={"9": raw}.get)
    assert (exact.knowledge_ok, exact.success) == (True, True)
    assert score_shopping_task(empty, [loaded], scoring="prgym").r_pro == 0.5


def test_quirk6_web_ground_truth_flag_is_a_substring_test() -> None:
    task = _web_task("Manila")
    other = _product("91234", title="Something Else Entirely", description="no")
    # published: gt = "123" in "91234" -> 1; the rule itself compares ids exactly: kw 0, title 0
    exact = score_shopping_task(task, [other], scoring="shoppingbench")
    assert (exact.exact, exact.r_pro, exact.success) == (1.0, 0.0, False)
    lenient = score_shopping_task(task, [other], scoring="prgym")
    assert (lenient.exact, lenient.r_pro) == (0.0, 0.0)


def test_shoppingbench_files_default_to_the_exact_mode() -> None:
    assert _web_task("x").scoring == "shoppingbench"
    task = _task([ShoppingTarget(product_id="1", titles=[TITLE], attributes=[{"Color": ["Red"]}])])
    assert task.scoring == "prgym"
    product = _product("2", attributes={"color": ["red"]})
    assert score_shopping_task(task, [product]).r_pro == 1.0
    assert score_shopping_task(task.model_copy(update={"scoring": "shoppingbench"}), [product]).r_pro == 0.5


def test_per_field_scores_product_share_and_length_as_published() -> None:
    items = [
        ShoppingTarget(product_id="1", titles=[TITLE], price=[PriceRange(mode="between", low=10, high=20)]),
        ShoppingTarget(product_id="2", titles=["b"]),
    ]
    task = _task(items, task_type="shop", same_shop=True)
    cheap = _product("7", price=Decimal(15), shop_id="s")
    for mode in ("shoppingbench", "prgym"):
        score = score_shopping_task(task, [cheap, None], scoring=mode)
        # item 1: title 1/1, price 1/1, no service/sku (1 each); item 2 not found: contributes 0; / 2 items
        assert score.fields == {f: 0.5 for f in FIELDS}
        assert score.product == 0.5 and score.r_pro == 0.5 and not score.success
    assert length_reward(4, True) == 0.25 and length_reward(4, False) == 0.0


def test_composite_reward_reports_mode_fields_and_length() -> None:
    class _Backend:
        def get_products(self, ids):
            return [_product("1") if i == "shoppingbench:1" else None for i in ids]

    task = _task([ShoppingTarget(product_id="1", titles=[TITLE])])
    summary = EpisodeSummary(task=task, recommended=["shoppingbench:1"], actions=5, valid_actions=5)
    metrics = CompositeReward(RewardConfig(scoring="shoppingbench"))(summary, _Backend()).metrics
    assert metrics["scoring"] == "shoppingbench" and metrics["success"]
    assert metrics["length"] == 0.2 and metrics["fields"] == {f: 1.0 for f in FIELDS}
