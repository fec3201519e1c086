"""ShoppingBench: the published success rules on hand-worked examples, the task loader on the real files, and
a shopping episode end to end."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.catalog.product import Product
from sandbox.env import ProductResearchEnv
from sandbox.rewards.shoppingbench import (
    price_after_voucher,
    score_item,
    score_shopping_task,
    score_web_task,
    token_cosine,
    within_budget,
)
from sandbox.tasks.models import PriceRange, ShoppingTarget, ShoppingTask, Voucher
from sandbox.tasks.shoppingbench import ShoppingBenchFormatError, load_shoppingbench, load_shoppingbench_dir

JEANS = ShoppingTarget(
    product_id="5113553158",
    titles=["American Retro Baggy Jeans For Women High Waist Straight Denim Vintage Blue Wide Leg Swagger"],
    sku_options=[{"size": "eu:30"}],
    attributes=[
        {"jeans_fit_type": ["baggy fit"]},
        {"waist_type": ["high"]},
        {"clothing_material": ["denim"]},
        {"fa_pattern": ["plain"]},
    ],
    price=[PriceRange(mode="greater than", low=114)],
)


def _product(pid: str = "shoppingbench:1", **fields) -> Product:
    base = {
        "product_id": pid,
        "title": "American Retro Baggy Jeans For Women High Waist",
        "source": "shoppingbench",
    }
    return Product.model_validate({**base, **fields})


def test_title_similarity_threshold_is_inclusive() -> None:
    assert token_cosine("Violin Bow", "violin bow") == pytest.approx(1.0)
    assert token_cosine("red shoes", "red hat") == pytest.approx(0.5)
    target = ShoppingTarget(product_id="9", titles=["red hat"])
    assert score_item(_product(title="red shoes"), target).r_pro == 1.0
    assert score_item(_product(title="blue shoes"), target).r_pro == 0.0


def test_r_pro_hand_worked() -> None:
    # title: 8 shared words of 8 and 15 -> cosine 8 / sqrt(8 * 15) = 0.73 >= 0.5: hit
    # price 120 >= 114: hit; options and attributes: size eu:30, baggy fit, high, denim hit, plain missing: 4 of 5
    jeans = _product(
        price=Decimal("120"),
        attributes={"jeans_fit_type": ["baggy fit"], "waist_type": ["high"], "clothing_material": ["denim"]},
        options=[{"size": "eu:32"}, {"size": "eu:30"}],
    )
    score = score_item(jeans, JEANS)
    assert score.totals == {"title": 1, "price": 1, "sku & attrs": 5}
    assert score.hits == {"title": 1, "price": 1, "sku & attrs": 4}
    assert score.r_pro == pytest.approx(6 / 7)
    assert score_item(jeans.model_copy(update={"price": Decimal("113.99")}), JEANS).r_pro == pytest.approx(
        5 / 7
    )


def test_exact_id_scores_one_whatever_the_fields() -> None:
    cheap = _product("shoppingbench:5113553158", title="something else entirely", price=Decimal("1"))
    assert score_item(cheap, JEANS).r_pro == 1.0 and score_item(cheap, JEANS).exact
    assert score_item(None, JEANS).r_pro == 0.0


@pytest.mark.parametrize(
    ("mode", "low", "high", "price", "inside"),
    [
        ("less than", None, 99, 99, True),
        ("less than", None, 99, 99.01, False),
        ("greater than", 375, None, 375, True),
        ("greater than", 375, None, 374.99, False),
        ("between", 75, 95, 75, True),
        ("between", 75, 95, 95, True),
        ("between", 75, 95, 95.01, False),
        ("between", 75, 95, None, False),
    ],
)
def test_price_range_rules(mode, low, high, price, inside) -> None:
    assert PriceRange(mode=mode, low=low, high=high).contains(price) is inside


def test_best_sku_counts_not_a_mix_of_skus() -> None:
    target = ShoppingTarget(
        product_id="9", titles=["On Cloud X"], sku_options=[{"size": "39", "color_family": "sea blue"}]
    )
    shoes = _product(
        title="On Cloud X",
        options=[{"size": "39", "color_family": "black"}, {"size": "40", "color_family": "sea blue"}],
    )
    assert score_item(shoes, target).hits["sku & attrs"] == 1  # never 2: the pair must sit in one SKU
    both = shoes.model_copy(update={"options": [*shoes.options, {"size": "39", "color_family": "sea blue"}]})
    assert score_item(both, target).r_pro == 1.0


def test_services_count_each() -> None:
    target = ShoppingTarget(product_id="9", titles=["On Cloud X"], service=["freeShipping", "COD"])
    shoes = _product(title="On Cloud X", services=["cod"])
    assert (
        score_item(shoes, target).hits == {"title": 1, "service": 1}
        and score_item(shoes, target).r_pro == 2 / 3
    )


FIXED = Voucher(
    voucher_type="platform",
    threshold=170,
    discount_type="fixed",
    face_value=34,
    price_after_voucher=419.0,
    budget=425,
)
CAPPED = Voucher(
    voucher_type="shop",
    threshold=1563,
    discount_type="percentage",
    discount=0.14,
    cap=1465,
    price_after_voucher=1644.019,
    budget=1807,
)


def test_fixed_voucher_arithmetic() -> None:
    # first line of synthesize_voucher_test.jsonl: total 453 - 34 = 419 <= 425
    assert price_after_voucher(453, FIXED, n_shops=3) == 419 == FIXED.price_after_voucher
    assert within_budget([400, 53], ["a", "b"], FIXED)
    assert not within_budget([460], ["a"], FIXED)  # 426 > 425
    assert within_budget([420], ["a"], FIXED)  # fits without the voucher
    assert price_after_voucher(160, FIXED, n_shops=1) is None  # under the threshold


def test_capped_percentage_voucher_arithmetic() -> None:
    # the first percentage line: 1911.65 * (1 - 0.14) = 1644.019 (the cap 1465 does not bind)
    assert price_after_voucher(1911.65, CAPPED, n_shops=1) == pytest.approx(1644.019)
    assert within_budget([1000, 911.65], ["s", "s"], CAPPED)
    assert price_after_voucher(1911.65, CAPPED, n_shops=2) is None  # a shop voucher needs one shop
    assert not within_budget([1000, 911.65], ["s", "t"], CAPPED)
    half = Voucher(
        voucher_type="platform", threshold=0, discount_type="percentage", discount=0.5, cap=100, budget=850
    )
    assert price_after_voucher(1000, half, n_shops=2) == 900  # max(1000 * 0.5, 1000 - 100): the cap binds
    assert not within_budget([1000], ["a"], half)


def test_task_success_needs_every_item_and_the_conditions() -> None:
    a = ShoppingTarget(product_id="1", titles=["red hat"])
    b = ShoppingTarget(product_id="2", titles=["blue scarf"])
    task = ShoppingTask(task_id="s", query="q", task_type="shop", items=[a, b], same_shop=True)
    hat = _product("shoppingbench:1", title="x", shop_id="7", price=Decimal("10"))
    scarf = _product("shoppingbench:20", title="Blue Scarf", shop_id="7", price=Decimal("5"))
    assert score_shopping_task(task, [hat, scarf]).success
    elsewhere = scarf.model_copy(update={"shop_id": "8"})
    result = score_shopping_task(task, [hat, elsewhere])
    assert result.r_pro == 1.0 and result.same_shop is False and not result.success
    missing = score_shopping_task(task, [hat])
    assert missing.r_pro == 0.5 and not missing.all_found and not missing.success
    voucher_task = task.model_copy(update={"task_type": "voucher", "same_shop": False, "voucher": FIXED})
    assert score_shopping_task(voucher_task, [hat, elsewhere]).budget_ok is True
    pricey = elsewhere.model_copy(update={"price": Decimal("450")})
    assert score_shopping_task(voucher_task, [hat, pricey]).budget_ok is False  # 460 - 34 = 426 > 425


def test_web_task_rule(backend, web_tasks_file: Path) -> None:
    task = load_shoppingbench(web_tasks_file)[0]
    (target,) = backend.get_products([task.items[0].catalog_id()])
    assert score_web_task(target, task).success
    other = target.model_copy(
        update={"product_id": "shoppingbench:0", "title": f"{task.knowledge_attribute} strings set"}
    )
    score = score_web_task(other, task)
    assert score.knowledge_ok and score.items[0].hits == {"knowledge": 1, "title": 0} and score.r_pro == 0.5


def test_loader_reads_every_real_file(shoppingbench_dir: Path) -> None:
    tasks = load_shoppingbench_dir(shoppingbench_dir)
    by_type: dict[str, list[ShoppingTask]] = {}
    for task in tasks:
        by_type.setdefault(task.task_type, []).append(task)
    assert {k: len(v) for k, v in by_type.items()} == {
        "product": 250,
        "shop": 250,
        "voucher": 250,
        "web": 150,
    }
    assert len({t.task_id for t in tasks}) == 900
    jeans = by_type["product"][3]
    assert jeans.items[0].sampled_pairs[0] == ("size", "eu:30") and jeans.items[0].price[0].low == 114
    assert all(t.same_shop and len(t.items) >= 2 for t in by_type["shop"])
    assert all(t.voucher is not None for t in by_type["voucher"])
    assert by_type["voucher"][0].voucher == FIXED
    web = by_type["web"][0]
    assert web.knowledge_attribute == "Violin" and web.items[0].record["brand"] == "HEART STRING"


def test_loader_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "synthesize_product_test.jsonl"
    good = {"query": "q", "reward": {"product_id": "1", "title": ["t"]}}
    bad = {"query": "q", "reward": {"product_id": "2", "title": ["t"], "price": [{"around": [1, 2]}]}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(
        ShoppingBenchFormatError, match=r"synthesize_product_test.jsonl:2: unknown price mode 'around'"
    ):
        load_shoppingbench(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ShoppingBenchFormatError, match=r":1: not valid JSON"):
        load_shoppingbench(path)
    with pytest.raises(ShoppingBenchFormatError, match="cannot tell the task type"):
        load_shoppingbench(tmp_path / "tasks.jsonl")


def test_shopping_episode_end_to_end(small_snapshot: Path, web_tasks_file: Path) -> None:
    env = ProductResearchEnv(small_snapshot, task_mode="shopping", tasks=str(web_tasks_file))
    observation, info = env.reset(options={"task_id": "sb-web-0001"})
    task = info["task"]
    assert "horsetail bow" in observation and task["knowledge_attribute"] == "Violin"
    env.step(
        "Plan: look up the instrument, then search the catalog for a horsetail bow for it and check the shop."
    )
    observation, *_ = env.step({"name": "product_search", "arguments": {"query": "violin bow horsetail"}})
    target_id = "shoppingbench:" + task["items"][0]["product_id"]
    assert target_id in observation
    observation, reward, terminated, _, info = env.step(
        {"name": "recommend_products", "arguments": {"product_ids": [target_id]}}
    )
    assert terminated and info["accepted"] and '"status":"accepted"' in observation
    assert info["reward_components"] == {"success": 1.0, "r_pro": 1.0, "format": 1.0}
    assert reward == pytest.approx(1.0) and info["metrics"]["exact"] == 1.0
