"""Rewards and metrics: citations, grounding, Effective Product Count, ShoppingBench r_pro / success, and the
configurable terminal reward."""

from sandbox.citations import Citation, cited_product_ids, product_citations, web_citations
from sandbox.rewards.grounding import ClaimCheck, check_report, extract_claims, grounding_accuracy
from sandbox.rewards.metrics import (
    ReportMetrics,
    effective_product_count,
    format_validity,
    pass_hat_k,
    report_metrics,
)
from sandbox.rewards.reward import (
    CompositeReward,
    EpisodeSummary,
    RewardBreakdown,
    RewardConfig,
    RewardFunction,
)
from sandbox.rewards.shoppingbench import (
    ItemScore,
    ShoppingBenchCrash,
    ShoppingScore,
    length_reward,
    price_after_voucher,
    record_from_product,
    records_from_tasks,
    score_item,
    score_shopping_task,
    token_cosine,
    within_budget,
)

__all__ = [
    "Citation",
    "ClaimCheck",
    "CompositeReward",
    "EpisodeSummary",
    "ItemScore",
    "ReportMetrics",
    "RewardBreakdown",
    "RewardConfig",
    "RewardFunction",
    "ShoppingBenchCrash",
    "ShoppingScore",
    "check_report",
    "cited_product_ids",
    "effective_product_count",
    "extract_claims",
    "format_validity",
    "grounding_accuracy",
    "pass_hat_k",
    "length_reward",
    "price_after_voucher",
    "record_from_product",
    "records_from_tasks",
    "product_citations",
    "report_metrics",
    "score_item",
    "score_shopping_task",
    "token_cosine",
    "web_citations",
    "within_budget",
]
