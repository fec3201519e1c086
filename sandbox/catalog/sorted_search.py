"""Which matches a non-relevance sort (price, rating, popularity) orders: the rule every backend shares.

A price sort over *every* product that matches any query word puts barely relevant products first (the cheapest
"usb c charger" was a webcam), so an agent asking for the cheapest charger must get chargers. Search engines solve
this by sorting only the relevant matches; prgym does it the same way in every backend and every mode (tantivy
lexical, FAISS dense, hybrid fusion, Elasticsearch):

1. the backend ranks the matching products by relevance, as it would for ``sort=relevance``, down to
   ``policy.pool`` hits, and says for each hit whether it contains *every* query term (lexically);
2. :func:`select_for_sort` keeps the hits scoring at least ``floor x best score`` (the relevance floor, per mode);
   if at least ``policy.min_all_terms`` of those contain every query term, only those are kept;
3. the backend orders the kept hits by the sort key (unknown values last, ties by product id) and reports their
   number as the total.

The rule is a pure function of the ranked scores and the all-terms flags, so another backend reuses it as it is
(``SortedSearchPolicy.off()`` is the old behaviour: sort every match, kept for the benchmark's baseline).
A query whose text analyses to no term at all (``"₹"``, one 5,000-character word) matches nothing: backends
return no hits with :data:`NO_TERMS_NOTE` rather than silently browsing the whole catalog.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sandbox.catalog.search import SearchMode

NO_TERMS_NOTE = (
    "the query has no searchable words (only symbols, or words too long to be indexed), so nothing matched; "
    "rephrase it, or send an empty query to browse by filters"
)


class SortedSearchPolicy(BaseModel):
    """How many relevance-ranked matches a sorted search considers, and how relevant they must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    pool: int = Field(
        default=500, ge=1, description="Relevance-ranked hits considered (the rest never sort)."
    )
    min_all_terms: int = Field(
        default=10,
        ge=1,
        description="Keep only hits with every query term when at least this many have them.",
    )
    min_keep: int = Field(
        default=10,
        ge=0,
        description="Always keep at least this many of the most relevant hits (floor or not).",
    )
    lexical_floor: float = Field(default=0.6, ge=0, le=1, description="Keep BM25 scores >= this x the best.")
    dense_floor: float = Field(default=0.85, ge=0, le=1, description="Keep cosine scores >= this x the best.")
    hybrid_floor: float = Field(default=0.5, ge=0, le=1, description="Keep fused scores >= this x the best.")

    @classmethod
    def off(cls) -> SortedSearchPolicy:
        """Sort every match (the behaviour before this rule): a baseline for benchmarks, not for agents."""
        return cls(enabled=False)

    def floor(self, mode: SearchMode) -> float:
        return {
            SearchMode.lexical: self.lexical_floor,
            SearchMode.dense: self.dense_floor,
            SearchMode.hybrid: self.hybrid_floor,
        }[mode]


def select_for_sort(
    scores: Sequence[float],
    all_terms: Sequence[bool] | None,
    policy: SortedSearchPolicy,
    mode: SearchMode = SearchMode.lexical,
) -> list[int]:
    """Positions (into the relevance-ranked ``scores``, best first) of the hits a sorted search orders.

    ``all_terms[i]`` says whether hit ``i`` contains every query term (None: the backend cannot tell). With the
    policy off, every position is kept.
    """
    if not policy.enabled or not len(scores):
        return list(range(len(scores)))
    best = max(float(s) for s in scores)
    floor = policy.floor(mode) * best if best > 0 else float("-inf")
    kept = [i for i, s in enumerate(scores) if float(s) >= floor or i < policy.min_keep]
    if all_terms is not None:
        strict = [i for i in kept if all_terms[i]]
        if len(strict) >= policy.min_all_terms:
            return strict
    return kept
