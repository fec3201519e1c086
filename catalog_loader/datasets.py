"""The registry of sample datasets: what each one is, which files it holds, their checksums and sources.

The checksums and sizes are kept here as data (copied from the reference copy's ``SHA256SUMS``) so that the
package can fetch and verify the samples on a machine that has nothing but the installed package. Every
source is pinned to an exact commit of a public GitHub repository: a moving branch could change the bytes
under us, and a fetched file is only accepted when its SHA-256 matches the one recorded here.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sandbox.errors import UserError

RAW_GITHUB_BASE = "https://raw.githubusercontent.com"

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CommitHex = Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_relative_posix(path: str, what: str) -> str:
    """Refuse absolute paths and ``..`` so a registry entry can never write or read outside the data home."""
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what} must be a relative POSIX path without '.' or '..' segments, got {path!r}")
    return path


class GitHubSource(BaseModel):
    """A file in a public GitHub repository at an exact commit (``owner/repo@commit:path``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    repo: str
    commit: CommitHex
    path: str

    @field_validator("owner", "repo")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _SEGMENT.match(value):
            raise ValueError(f"GitHub owner/repo names use letters, digits, '.', '_' and '-', got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _check_relative_posix(value, "source path")

    @property
    def url(self) -> str:
        """The raw-content URL of this exact file version."""
        return f"{RAW_GITHUB_BASE}/{self.owner}/{self.repo}/{self.commit}/{quote(self.path)}"

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}@{self.commit}:{self.path}"


class DataFile(BaseModel):
    """One file of a dataset: where it lives in the data home, what it must hash to, where it comes from.

    ``source`` is ``None`` for files that cannot be downloaded byte-identically from a public source (derived
    files); those can only come from a local copy or a mirror that holds one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: Sha256Hex
    size: int = Field(gt=0)
    source: GitHubSource | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _check_relative_posix(value, "data file path")


class Dataset(BaseModel):
    """A named group of files that loaders and benchmarks use together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    files: tuple[DataFile, ...] = Field(min_length=1)
    derived: bool = False
    derived_from: GitHubSource | None = None
    derivation: str | None = None

    @model_validator(mode="after")
    def _sources_match_kind(self) -> Dataset:
        for f in self.files:
            if not f.path.startswith(f"{self.name}/"):
                raise ValueError(f"dataset {self.name!r}: file {f.path!r} must live under '{self.name}/'")
            if self.derived and f.source is not None:
                raise ValueError(f"dataset {self.name!r} is derived: file {f.path!r} must not claim a source")
            if not self.derived and f.source is None:
                raise ValueError(f"dataset {self.name!r}: file {f.path!r} needs a public source")
        if self.derived and (self.derived_from is None or not self.derivation):
            raise ValueError(f"derived dataset {self.name!r} must say what it was derived from and how")
        return self

    @property
    def size(self) -> int:
        """Total bytes of the dataset's files."""
        return sum(f.size for f in self.files)


def _gh(spec: str) -> GitHubSource:
    """Parse ``owner/repo@commit:path`` (the notation of the data README) into a :class:`GitHubSource`."""
    match = re.fullmatch(r"([^/@:]+)/([^/@:]+)@([0-9a-f]{40}):(.+)", spec)
    if match is None:
        raise ValueError(f"expected 'owner/repo@<40-hex commit>:path', got {spec!r}")
    owner, repo, commit, path = match.groups()
    return GitHubSource(owner=owner, repo=repo, commit=commit, path=path)


_ICECAT = "o19s/chorus-opensearch-edition@f18fc922f52d7c54b29d8124b1e9168766dd9159"
_MYNTRA = "animmala3942/FashionProductRecommendationSystem@91e8036739fe4f903aaa4a95009a13d4bc7cb542"
_WEBMALL = "wbsg-uni-mannheim/WebMall@4223ced9fcb918d94f66f1612396f7064d1603a1"
_SHOPPINGBENCH = "yjwjy/ShoppingBench@2f4d132500d4962d7ee3143e103b93499c82aca0"
_WEBSHOP = "princeton-nlp/WebShop@64fa2a5c15c7daa698b9ac93f5bb5437b634c9bd"


def _f(path: str, sha256: str, size: int, source: str | None) -> DataFile:
    return DataFile(path=path, sha256=sha256, size=size, source=_gh(source) if source else None)


_DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="icecat",
        description="Open Icecat electronics / IT / office catalog (19,406 products, via the Chorus demo)",
        files=(
            _f(
                "icecat/icecat-1.json.zip",
                "15b622a11a6267aa0c450919a84b0fc41d7748db552f4c9c0e04167bbc7c38cb",
                1558268,
                f"{_ICECAT}:data-encoder/ecommerce/vectors/data/1.json.zip",
            ),
            _f(
                "icecat/icecat-2.json.zip",
                "17d95160289440d03ca50af65c1363d9edd1d5e82678ddb874b27aeac1f87c33",
                1643302,
                f"{_ICECAT}:data-encoder/ecommerce/vectors/data/2.json.zip",
            ),
            _f(
                "icecat/icecat-3.json.zip",
                "d4d088908fa648da7e79682872a77771ba42f065b253c4fb0f333e630d94f45a",
                1662955,
                f"{_ICECAT}:data-encoder/ecommerce/vectors/data/3.json.zip",
            ),
            _f(
                "icecat/icecat-4.json.zip",
                "533329e5173eac349ce61512fc86a352d5f6651e31694e03aa6e8428cbeaf3c0",
                1422844,
                f"{_ICECAT}:data-encoder/ecommerce/vectors/data/4.json.zip",
            ),
        ),
    ),
    Dataset(
        name="amazon_in",
        description="Amazon.in listings, 20 main / 112 sub categories (10,930 products)",
        files=(
            _f(
                "amazon_in/Amazon-Products.csv",
                "e78e3fe18e9d678c517f7c55ea7d5cc578f057e82c90d28cb5a7209054aa66e3",
                3840533,
                "gracious7/merge-and-trim-csv@3b2bbaf83693f35b256eafe1e4c5b44a9459110e:Amazon-Products.csv",
            ),
        ),
    ),
    Dataset(
        name="myntra",
        description="Myntra fashion catalog (44,446 products, two CSVs matched row by row)",
        files=(
            _f(
                "myntra/styles.csv",
                "b5451284ea74ad2b93cc7bbfbfa8334457661a3cb898fc590a1de80f0a1a18de",
                2790724,
                f"{_MYNTRA}:styles.csv",
            ),
            _f(
                "myntra/styles_text.csv",
                "4245371ef7cdf8b79a2ed0fffccf77654eb27af70d625403e23fb6ef57e90840",
                1629403,
                f"{_MYNTRA}:styles_text.csv",
            ),
        ),
    ),
    Dataset(
        name="bestbuy",
        description="Best Buy products (3,291) and the Best Buy category tree (4,584 categories)",
        files=(
            _f(
                "bestbuy/categories.json",
                "65837efb579f4a6c67c8b2e9771345d0d6513b137059be1f369c8faf98ab4c37",
                1589888,
                "BestBuyAPIs/open-data-set@007fab14a0d429fb9d550085888015343c61da3d:categories.json",
            ),
            _f(
                "bestbuy/products.json",
                "e68ff34f60f411df7370b374b987e32e0cda598acc8971fddec9af6a5ce020a1",
                2173195,
                "typesense/showcase-ecommerce-store@896175ba471c0845298a6b4065deab1f4d050a57"
                ":scripts/data/ecommerce.json",
            ),
        ),
    ),
    Dataset(
        name="webmall",
        description="Four WooCommerce shops selling overlapping PC hardware and electronics (1,108 offers)",
        files=(
            _f(
                "webmall/webmall_1.csv",
                "7fa1e9072ddddd46580b3fb945f0e36397a2f72adb1ffb6dae33948a68f96709",
                224338,
                f"{_WEBMALL}:product_data/webmall_1.csv",
            ),
            _f(
                "webmall/webmall_2.csv",
                "4166fedf608ee232b5be39945c4b2d2ac6955a1e05066cad8df74079d4c50abc",
                186022,
                f"{_WEBMALL}:product_data/webmall_2.csv",
            ),
            _f(
                "webmall/webmall_3.csv",
                "b292d33191d1bdf8fab6778163c0dfa161af5608b35688da242b947c52a33333",
                175235,
                f"{_WEBMALL}:product_data/webmall_3.csv",
            ),
            _f(
                "webmall/webmall_4.csv",
                "642e8febde21e83cb018de34bd2c9e3e421b78abf4fbfefd77bed9fd1f2e73ab",
                126138,
                f"{_WEBMALL}:product_data/webmall_4.csv",
            ),
        ),
    ),
    Dataset(
        name="homedepot",
        description="Home Depot product titles (54,667) and human relevance judgments (dev split)",
        derived=True,
        derived_from=_gh(
            "MohammedFCIS/Home-Depot-Product-Search-Relevance@39d6ca2959b0f9bacbef56e1e3f3807fb061bba6"
            ":data/train.csv.zip"
        ),
        derivation=(
            "the Kaggle 'Home Depot Product Search Relevance' train set split into unique product titles and "
            "a development split of the relevance labels; the held-out split is not published, so these "
            "files cannot be re-derived byte-identically from the public source"
        ),
        files=(
            _f(
                "homedepot/labels_dev.csv",
                "bf12e10e0603f6042cef35daab8393a83dbcfb5c9c55b6e58c78517ca5d85073",
                1413241,
                None,
            ),
            _f(
                "homedepot/products.csv",
                "d8a1dc887622247a20a19a74195094bf60f65541c6822cfb60d6757b5c2319e8",
                4272358,
                None,
            ),
        ),
    ),
    Dataset(
        name="shoppingbench",
        description="ShoppingBench test tasks (Lazada): product, shop, voucher and web/knowledge tasks",
        files=tuple(
            _f(
                f"shoppingbench/synthesize_{kind}_test.jsonl",
                sha,
                size,
                f"{_SHOPPINGBENCH}:data/synthesize_{kind}_test.jsonl",
            )
            for kind, sha, size in (
                ("product", "46d044e1129f3f8782ac6fef8409692581ff4ff3834e2d3a0fc5d54e0dc9ae8f", 98220),
                ("shop", "85f36aecc1ff33246bcb7137e4b0bf828474f5e58f26af4a90a0bb08bdbd02c9", 287404),
                ("voucher", "2291294181d49517f898027acf9d893f9be0951c00eece4fb21640adca94d1ad", 347940),
                ("web_simpleqa", "5777fffb5d6b8e91872c00d0ade09932ca30a6b4d4b16ecaa3e08c075c9a1454", 282957),
            )
        ),
    ),
    Dataset(
        name="webshop",
        description="WebShop crowd-written shopping instructions (12,087)",
        files=(
            _f(
                "webshop/human_goals.json",
                "b68746ed66cd31fdc5f70eb3f5831a46b38163563b57a66ddcab8fd60ee0cbdc",
                999419,
                f"{_WEBSHOP}:baseline_models/data/human_goals.json",
            ),
        ),
    ),
    Dataset(
        name="queries",
        description="Real shopping queries: WANDS, Algolia suggestions, KDD Cup 2024 Shopping MMLU dev",
        files=(
            _f(
                "queries/algolia_query_suggestions.json",
                "ad53caa28d9b693dcfed16cf62cb4fb14d6902f7340a77ae023173977db87f9d",
                1381792,
                "algolia/datasets@dd302a00a5681a0344be81f510ba587f14c5ecde"
                ":ecommerce/instant_search_demo_query_suggestions.json",
            ),
            _f(
                "queries/kddcup24_shopping_mmlu_dev.jsonl",
                "a73043af0d7a19ac5a769e27264084600c83fe71babc2fde4fbbb2269fc462f5",
                81981,
                "Keita18/amazon-kdd-cup-2024-starter-kit@4835f57faef0e77e2a9a56f846873f53a1111502:data/development.json",
            ),
            _f(
                "queries/wands_queries.csv",
                "63b61660560fecc33ec490804c7e2b81402ee3e7c31a9cbb5e03736639f68e95",
                19942,
                "wayfair/WANDS@3b74dcf4ba29ab8ff3e6a50b5b09fc627cb882b5:dataset/query.csv",
            ),
        ),
    ),
    Dataset(
        name="web_pages",
        description="Saved web pages: an Amazon product page, an Amazon results page, an eBay product page",
        files=(
            _f(
                "web_pages/amazon_item_page.html",
                "73805e4343a9fde660b6fbce4c23db591b4ef4562b0f24cef7ec50e07feafea1",
                1781852,
                f"{_WEBSHOP}:tests/transfer/mocks/mock_parse_item_page_amz",
            ),
            _f(
                "web_pages/amazon_results_page.html",
                "4f28325e3dc4797ff7127faa38e5656735f21cbfa7e15c45a5b48b6cadaa3ef6",
                1145450,
                f"{_WEBSHOP}:tests/transfer/mocks/mock_parse_results_amz",
            ),
            _f(
                "web_pages/ebay_item_page.html",
                "9dd2f9c4fc6f100f0d3263da542264e679a115d16bc13162af1d6f6cbed98767",
                535099,
                f"{_WEBSHOP}:tests/transfer/mocks/mock_parse_item_page_ebay",
            ),
        ),
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in _DATASETS}
"""All sample datasets by name, in a stable order (the order ``fetch all`` uses)."""

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


class UnknownDatasetError(UserError, KeyError):
    """A dataset name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name``; an unknown name raises with the list of valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; expected one of: {', '.join(DATASET_NAMES)} (or 'all')"
        ) from None


def expand_names(names: list[str] | tuple[str, ...] | str) -> list[Dataset]:
    """Turn user input (names, maybe ``all``, maybe repeated) into registry entries, in registry order."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise UnknownDatasetError(f"no dataset named; expected one of: {', '.join(DATASET_NAMES)} (or 'all')")
    wanted: set[str] = set()
    for name in names:
        if name == "all":
            wanted.update(DATASET_NAMES)
        else:
            wanted.add(get_dataset(name).name)
    return [DATASETS[n] for n in DATASET_NAMES if n in wanted]
