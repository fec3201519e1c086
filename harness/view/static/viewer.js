// prgym run report viewer. Every string from a run is inserted with textContent; the only HTML inserted as
// markup is the final report, which the Python side rendered with raw HTML disabled and escaped.
"use strict";
(function () {
  const INDEX = JSON.parse(document.getElementById("index").textContent);
  const ROWS = INDEX.rows;
  const cache = new Map();
  const state = { sort: "reward", dir: -1, run: "", policy: "", status: "", min: "", max: "", text: "" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  const fmt = (v, d) => (v === null || v === undefined ? "-" : typeof v === "number" ? v.toFixed(d === undefined ? 3 : d) : String(v));

  // ---------- episode list ----------
  const COLUMNS = [
    ["run", "run"], ["task", "task"], ["policy", "policy"], ["status", "status"], ["reward", "reward"],
    ["epc", "EPC"], ["grounding", "grounding"], ["steps", "steps"], ["tools", "tool calls"], ["time", "time s"],
    ["query", "task text"],
  ];
  function options(values) {
    return [el("option", { value: "", text: "all" }), ...values.map((v) => el("option", { value: v, text: v }))];
  }
  function uniq(key) { return [...new Set(ROWS.map((r) => String(r[key])))].sort(); }

  function buildList() {
    const host = document.getElementById("episodes");
    const runSelect = el("select", { id: "f-run", onchange: (e) => { state.run = e.target.value; renderRows(); } },
      el("option", { value: "", text: "all" }), ...INDEX.runs.map((name, i) => el("option", { value: String(i), text: name })));
    const filters = el("div", { class: "filters" },
      el("label", {}, "run ", runSelect),
      el("label", {}, "policy ", el("select", { id: "f-policy", onchange: (e) => { state.policy = e.target.value; renderRows(); } }, ...options(uniq("policy")))),
      el("label", {}, "status ", el("select", { id: "f-status", onchange: (e) => { state.status = e.target.value; renderRows(); } }, ...options(["accepted", "rejected", "truncated", "failed"]))),
      el("label", {}, "reward ", el("input", { id: "f-min", type: "number", step: "0.05", placeholder: "min", oninput: (e) => { state.min = e.target.value; renderRows(); } }),
        " to ", el("input", { id: "f-max", type: "number", step: "0.05", placeholder: "max", oninput: (e) => { state.max = e.target.value; renderRows(); } })),
      el("label", {}, "text ", el("input", { id: "f-text", type: "search", placeholder: "task text or id", oninput: (e) => { state.text = e.target.value.toLowerCase(); renderRows(); } })),
      el("span", { id: "shown", class: "shown" }));
    const head = el("tr", {}, ...COLUMNS.map(([key, label]) => el("th", { "data-key": key, onclick: () => { state.dir = state.sort === key ? -state.dir : (key === "reward" ? -1 : 1); state.sort = key; renderRows(); } }, label)));
    host.append(el("h2", { text: "episodes" }), filters, el("table", { class: "episodes" }, el("thead", {}, head), el("tbody", { id: "rows" })));
    if (INDEX.runs.length < 2) runSelect.parentNode.hidden = true;
  }

  function visible() {
    const min = state.min === "" ? null : Number(state.min);
    const max = state.max === "" ? null : Number(state.max);
    return ROWS.map((r, i) => [r, i]).filter(([r]) =>
      (state.run === "" || String(r.run) === state.run) &&
      (state.policy === "" || r.policy === state.policy) &&
      (state.status === "" || r.status === state.status) &&
      (min === null || (r.reward !== null && r.reward >= min)) &&
      (max === null || (r.reward !== null && r.reward <= max)) &&
      (state.text === "" || (r.query + " " + r.task + " " + r.id).toLowerCase().includes(state.text)));
  }

  function renderRows() {
    const rows = visible();
    const key = state.sort;
    rows.sort(([a], [b]) => {
      const x = key === "run" ? INDEX.runs[a.run] : a[key];
      const y = key === "run" ? INDEX.runs[b.run] : b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * state.dir;
    });
    const body = document.getElementById("rows");
    const frag = document.createDocumentFragment();
    for (const [r, i] of rows) {
      frag.append(el("tr", { class: "row s-" + r.status, "data-ep": String(i), onclick: () => { location.hash = "#ep/" + i; } },
        el("td", { text: INDEX.runs[r.run] }),
        el("td", {}, el("a", { href: "#ep/" + i, text: r.task })),
        el("td", { text: r.policy }),
        el("td", {}, el("span", { class: "badge s-" + r.status, text: r.status + (r.reason ? " (" + r.reason + ")" : "") })),
        el("td", { class: "num", text: fmt(r.reward) }), el("td", { class: "num", text: fmt(r.epc, 0) }),
        el("td", { class: "num", text: fmt(r.grounding, 2) }), el("td", { class: "num", text: fmt(r.steps, 0) }),
        el("td", { class: "num", text: fmt(r.tools, 0) }), el("td", { class: "num", text: fmt(r.time, 2) }),
        el("td", { class: "query", text: r.query })));
    }
    body.replaceChildren(frag);
    document.getElementById("shown").textContent = rows.length + " of " + ROWS.length + " episodes";
    for (const th of document.querySelectorAll("table.episodes th")) {
      th.classList.toggle("sorted", th.dataset.key === state.sort);
      th.dataset.dir = th.dataset.key === state.sort ? (state.dir > 0 ? "asc" : "desc") : "";
    }
  }

  // ---------- episode detail (lazy) ----------
  async function detail(i) {
    if (cache.has(i)) return cache.get(i);
    const block = document.getElementById("ep-" + i);
    if (!block) throw new Error("no data block for episode " + i);
    const bytes = Uint8Array.from(atob(block.textContent.trim()), (c) => c.charCodeAt(0));
    if (typeof DecompressionStream === "undefined") throw new Error("this browser lacks DecompressionStream (use a current Chromium, Firefox or Safari)");
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const value = JSON.parse(await new Response(stream).text());
    cache.set(i, value);
    return value;
  }

  function kv(obj) {
    const table = el("table", { class: "kv" });
    for (const [k, v] of Object.entries(obj || {})) {
      table.append(el("tr", {}, el("th", { text: k }), el("td", { text: typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v) })));
    }
    return table;
  }

  function pre(text, cls) { return el("pre", { class: cls || "" , text: text }); }

  function callView(call) {
    const full = call.full === null ? null : el("details", { class: "full" }, el("summary", { text: "full result" }), pre(call.full));
    return el("div", { class: "call" + (call.error ? " error" : "") },
      el("div", { class: "call-head" }, el("span", { class: "tool", text: call.name }), " ", el("span", { class: "short", text: call.short || "" }),
        call.check ? el("span", { class: "ok", text: " \u2713 checked" }) : null),
      el("details", { class: "args" }, el("summary", { text: "arguments" }), pre(call.args)),
      el("div", { class: "result", text: call.result === null ? "(no result recorded)" : call.result }), full);
  }

  function timelineItem(item) {
    const step = el("span", { class: "step", text: "step " + item.step });
    if (item.type === "assistant") {
      return el("div", { class: "item assistant" + (item.plan ? " plan" : "") },
        el("div", { class: "who" }, step, item.plan ? "agent plan" : "agent"),
        item.reasoning ? el("div", { class: "reasoning" }, el("b", { text: "reasoning " }), pre(item.reasoning)) : null,
        item.content ? pre(item.content, "content") : null,
        ...item.calls.map(callView));
    }
    if (item.type === "supervisor") {
      return el("div", { class: "item supervisor " + (item.passed ? "pass" : "fail") },
        el("div", { class: "who" }, step, "supervisor: " + (item.passed ? "passed " : "REJECTED ") + item.where),
        item.critiques.length ? el("ul", { class: "critiques" }, ...item.critiques.map((c) =>
          el("li", { class: "critique" }, c.check ? el("b", { text: "[" + c.check + "] " }) : null, c.message, c.fix ? el("div", { class: "fix", text: "fix: " + c.fix }) : null))) : null,
        item.text ? el("div", { class: "said", text: item.text }) : null);
    }
    if (item.type === "revision") {
      return el("div", { class: "item revision" },
        el("div", { class: "who" }, step, "report revision " + item.n + " (diff from the previous draft)"),
        el("div", { class: "diff" }, ...item.diff.map(([op, line]) => el("div", { class: "d d" + ({ "+": "add", "-": "del", "~": "gap" }[op] || "ctx"), text: (op === "~" ? "" : op + " ") + line }))));
    }
    return el("div", { class: "item " + item.type }, el("div", { class: "who" }, step, item.name || item.type), pre(item.text || ""));
  }

  function componentsView(ep) {
    const rows = Object.entries(ep.components || {}).map(([k, v]) => {
      const w = ep.weights ? ep.weights[k] : undefined;
      return el("tr", {}, el("th", { text: k }), el("td", { class: "num", text: fmt(v) }), el("td", { class: "num", text: w === undefined ? "-" : fmt(w, 2) }),
        el("td", {}, el("div", { class: "bar" }, el("i", { style: "width:" + Math.max(0, Math.min(1, Number(v) || 0)) * 100 + "%" }))));
    });
    return el("section", { class: "components" }, el("h3", { text: "reward " + fmt(ep.reward) }),
      el("table", { class: "kv" }, el("tr", {}, el("th", { text: "component" }), el("th", { text: "value" }), el("th", { text: "weight" }), el("th")), ...rows),
      el("h4", { text: "metrics" }), kv(ep.metrics));
  }

  function reportView(ep) {
    if (!ep.report) return el("section", { class: "report" }, el("h3", { text: "final answer" }), ep.recommended ? el("div", {}, "recommended: ", ...ep.recommended.map((p) => citeLink(p))) : el("div", { class: "empty", text: "no final report recorded" }));
    const c = ep.report.counts;
    const body = el("div", { class: "md" });
    body.innerHTML = ep.report.html; // rendered by harness/view/report_html.py: raw HTML disabled, escaped
    return el("section", { class: "report" },
      el("h3", { text: "final report" }),
      el("div", { class: "gsum" }, "grounding (re-checked against the records in the trace): ",
        el("span", { class: "v-agrees", text: c.agrees + " agree" }), " \u00b7 ",
        el("span", { class: "v-disagrees", text: c.disagrees + " disagree" }), " \u00b7 ",
        el("span", { class: "v-unverifiable", text: c.unverifiable + " unverifiable" })),
      body);
  }

  function citeLink(pid) {
    const a = el("a", { href: "#", class: "cite", text: "[P:" + pid + "]" });
    a.dataset.pid = pid;
    return a;
  }

  function showRecord(ep, pid) {
    const aside = document.getElementById("record");
    const record = ep.products[pid];
    const close = el("button", { class: "close", onclick: () => { aside.hidden = true; }, text: "close" });
    if (!record) {
      aside.replaceChildren(close, el("h3", { text: pid }), el("p", { text: "This id was not returned by any tool in this episode (not in the trace)." }));
    } else {
      const fields = Object.assign({}, record);
      delete fields._from;
      const attrs = fields.attributes; delete fields.attributes;
      aside.replaceChildren(...[close, el("h3", { class: "rec-title", text: record.title || pid }),
        el("div", { class: "from", text: "as recorded in the trace (" + (record._from || "?") + ")" }), kv(fields),
        attrs ? el("h4", { text: "attributes" }) : null, attrs ? kv(attrs) : null].filter((x) => x));
    }
    aside.hidden = false;
  }

  function distillView(ep) {
    const d = ep.distill;
    if (!d) return null;
    const decision = d.decision ? el("div", { class: "decision " + (d.decision.kept ? "kept" : "dropped"), text: d.decision.kept ? "kept for training" : "dropped: " + (d.decision.reason || "?") + (d.decision.detail ? " (" + d.decision.detail + ")" : "") }) : null;
    const sample = d.messages.map((m) => el("div", { class: "item msg r-" + m.role },
      el("div", { class: "who", text: m.role + (m.name ? " (" + m.name + ")" : "") }),
      m.reasoning ? el("div", { class: "reasoning" }, el("b", { text: "reasoning (from the critiques) " }), pre(m.reasoning)) : null,
      m.content ? (m.role === "tool" ? el("details", {}, el("summary", { text: "tool result (" + m.content.length + " characters)" }), pre(m.content)) : pre(m.content, "content")) : null,
      ...m.calls.map((c) => el("div", { class: "call" }, el("span", { class: "tool", text: c.name }), el("details", {}, el("summary", { text: "arguments" }), pre(c.args))))));
    return el("section", { class: "distill" }, el("h3", { text: "distill: raw multi-agent trace beside the internalized sample" }), decision,
      el("div", { class: "cols" },
        el("div", { class: "col" }, el("h4", { text: "raw trace" }), ...ep.timeline.map(timelineItem)),
        el("div", { class: "col" }, el("h4", { text: "training sample (" + d.messages.length + " messages)" }), ...(sample.length ? sample : [el("div", { class: "empty", text: "no sample (dropped)" })]))));
  }

  async function showEpisode(i) {
    const host = document.getElementById("episode");
    const row = ROWS[i];
    host.replaceChildren(el("div", { class: "loading", text: "loading episode ..." }));
    let ep;
    try { ep = await detail(i); } catch (err) { host.replaceChildren(el("div", { class: "error", text: String(err) })); return; }
    const t = ep.task;
    const rubric = t.rubric.length ? el("table", { class: "kv" }, ...t.rubric.map((d) => el("tr", {}, el("th", { text: d.name }), el("td", { class: "num", text: fmt(d.weight, 2) }), el("td", { text: d.criteria.join("; ") })))) : null;
    const s = ep.status;
    host.replaceChildren(...[
      el("p", {}, el("a", { href: "#episodes", text: "\u2190 episodes" })),
      el("h2", { class: "ep-title", text: ep.id }),
      el("div", { class: "ep-head" }, el("span", { class: "badge s-" + row.status, text: row.status }), " ", INDEX.runs[row.run], " \u00b7 policy ", row.policy,
        " \u00b7 reward ", fmt(ep.reward), " \u00b7 ", ep.revisions + " revision(s)"),
      s.error ? el("div", { class: "error" }, el("b", { text: "failed: " + (s.reason || "") + " " }), s.error, s.traceback ? el("details", {}, el("summary", { text: "traceback" }), pre(s.traceback)) : null) : null,
      el("section", { class: "task" }, el("h3", { text: "task " + (t.id || "") + (t.kind ? " (" + t.kind + ")" : "") }), pre(t.query, "query"),
        t.persona ? el("div", {}, el("b", { text: "persona: " }), t.persona) : null,
        Object.keys(t.constraints).length ? el("div", {}, el("h4", { text: "constraints" }), kv(t.constraints)) : null,
        rubric ? el("div", {}, el("h4", { text: "rubric weights" }), rubric) : null,
        el("details", {}, el("summary", { text: "run metadata" }), kv(ep.meta))),
      ep.has_trace ? el("section", { class: "timeline" }, el("h3", { text: "timeline" }), ...ep.timeline.map(timelineItem)) : el("div", { class: "empty", text: "no trace recorded for this episode" }),
      reportView(ep), componentsView(ep), distillView(ep)].filter((x) => x));
    host.onclick = (e) => {
      const a = e.target.closest("a.cite");
      if (a) { e.preventDefault(); showRecord(ep, a.dataset.pid); }
    };
  }

  // ---------- routing ----------
  function route() {
    const hash = location.hash || "#overview";
    const m = hash.match(/^#ep\/(\d+)$/);
    for (const v of document.querySelectorAll(".view")) v.hidden = true;
    document.getElementById("record").hidden = true;
    if (m && ROWS[Number(m[1])]) {
      document.getElementById("episode").hidden = false;
      showEpisode(Number(m[1]));
    } else if (hash === "#episodes") {
      document.getElementById("episodes").hidden = false;
    } else {
      document.getElementById("overview").hidden = false;
      document.getElementById("episodes").hidden = false;
    }
    window.scrollTo(0, 0);
  }
  buildList();
  renderRows();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "1";
})();
