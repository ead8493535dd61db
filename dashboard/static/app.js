// Silent Commerce operator page: fetches the REST API once, then follows the live feed (SSE).
// Same-origin requests, so the session cookie from the sign-in page applies to fetch() and EventSource alike.
"use strict";

(() => {
  const RATE_WINDOW = 600; // seconds of reads-per-second history
  const TEMP_LIMIT = 5.0; // °C: a cooler above this raises an alert after a while
  const ALARM_SHOW_MS = 15000;
  const MAX_FEED = 40;
  const ZONE_COLOURS = {
    entrance: "#38bdf8", shelf: "#a3e635", lane: "#fbbf24", exit: "#f87171", backroom: "#a78bfa", cooler: "#22d3ee",
  };
  const SERIES_COLOURS = ["#38bdf8", "#fbbf24", "#34d399", "#f472b6", "#a78bfa", "#fb923c", "#22d3ee", "#a3e635"];

  const { el, svg, $ } = window.scDom; // dom.js: text only, nothing from the wire is parsed as HTML
  const currency = document.body.dataset.currency || "EUR";
  const moneyFormat = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const readFormat = new Intl.DateTimeFormat(undefined,
    { hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 });
  const readTime = (iso) => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? "" : readFormat.format(d); };

  const state = {
    zones: new Map(), // name -> {name, type, ...}
    presence: new Map(), // zone -> {members, items, others}
    reads: new Map(), // zone -> Map(second -> count)
    lastSecond: 0,
    series: new Map(), // temperature sensor -> [[t, value]]
    sensors: new Map(), // sensor -> latest sample
    gateways: new Map(), // "store/gateway" -> status
    transactions: [],
    alerts: [],
    alarms: new Map(), // zone -> until (ms)
    newestTx: null,
    stock: null, // {low, missing, open_alerts}
  };

  const money = (value) => { const n = Number(value); return Number.isFinite(n) ? moneyFormat.format(n) : String(value); };
  const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const clockTime = (iso) => {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? timeFormat.format(d) : `${dateFormat.format(d)} ${timeFormat.format(d)}`;
  };

  // A dashboard that follows several stores shows one of them, or all: the page's ?store= (the selector).
  const chosenStore = new URLSearchParams(location.search).get("store") || "";
  const scoped = (path) => (chosenStore
    ? `${path}${path.includes("?") ? "&" : "?"}store=${encodeURIComponent(chosenStore)}` : path);
  const inStore = (item) => !chosenStore || !item.store || item.store === chosenStore;

  async function getJson(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // -- zones ----------------------------------------------------------------------------------------

  function grouped(entries) {
    const byName = new Map();
    for (const entry of entries) {
      const name = entry.name || entry.ref || entry.tag;
      byName.set(name, (byName.get(name) || 0) + 1);
    }
    return [...byName].map(([name, n]) => (n > 1 ? `${n} × ${name}` : name));
  }

  function zoneNames() {
    const names = new Set([...state.zones.keys(), ...state.presence.keys()]);
    const order = ["entrance", "shelf", "backroom", "cooler", "lane", "exit"];
    const rank = (name) => { const type = state.zones.get(name)?.type; const i = order.indexOf(type); return i < 0 ? 99 : i; };
    return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  function renderZones() {
    const now = Date.now();
    const cards = [];
    let people = 0;
    let items = 0;
    for (const name of zoneNames()) {
      const zone = state.zones.get(name) || { name, type: "zone" };
      const here = state.presence.get(name) || { members: [], items: [], others: [] };
      people += here.members.length;
      items += here.items.length;
      const perSecond = state.reads.get(name)?.get(state.lastSecond) || 0;
      const alarm = (state.alarms.get(name) || 0) > now;
      const sensors = [...state.sensors.values()].filter((s) => s.zone === name);
      const classes = ["zone", here.members.length || here.items.length ? "busy" : "", alarm ? "alarm" : ""];
      cards.push(
        el("article", { class: classes.join(" "), style: `--zone:${ZONE_COLOURS[zone.type] || "#38bdf8"}`, "data-zone": name },
          el("div", { class: "zone-head" },
            el("span", { class: "zone-name" }, name),
            el("span", { class: "zone-type" }, alarm ? "ALARM" : zone.type)),
          el("div", { class: "zone-counts" },
            el("div", { class: "count" }, el("b", {}, here.members.length), el("span", {}, here.members.length === 1 ? "person" : "people")),
            el("div", { class: "count" }, el("b", {}, here.items.length), el("span", {}, here.items.length === 1 ? "item" : "items")),
            sensors.map((s) => el("div", { class: "count" },
              el("b", { class: `sensor ${s.kind === "temperature" && s.value > TEMP_LIMIT ? "hot" : ""}` },
                s.kind === "door" ? (s.value ? "open" : "shut") : `${s.value.toFixed(1)}${s.unit ? " " + s.unit : ""}`),
              el("span", {}, s.kind === "temperature" ? "temp" : s.kind)))),
          here.members.length ? el("ul", { class: "chips" },
            here.members.map((m) => el("li", { class: `chip ${m.kind}`, title: m.tag }, m.name || m.ref || m.tag))) : null,
          here.items.length ? el("ul", { class: "chips" }, grouped(here.items).map((t) => el("li", { class: "chip" }, t))) : null,
          here.others.length ? el("ul", { class: "chips" },
            el("li", { class: "chip unknown", title: here.others.map((o) => o.tag).join("\n") },
              `${here.others.length} unknown tag${here.others.length > 1 ? "s" : ""}`)) : null,
          el("div", { class: "rate num" }, `${perSecond} reads/s`)));
    }
    if (!cards.length) cards.push(el("p", { class: "empty" }, "No zones yet: the store layout appears here."));
    $("zones").replaceChildren(...cards);
    const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    $("zones-summary").textContent = `${plural(people, "person", "people")} · ${plural(items, "item", "items")} in the store`;
  }

  // -- transactions ---------------------------------------------------------------------------------

  function itemsText(tx) {
    if (tx.lines && tx.lines.length) return grouped(tx.lines).join(", ");
    const n = tx.line_count || 0;
    return `${n} item${n === 1 ? "" : "s"}`;
  }

  function clickable(label, open) {
    return {
      tabindex: 0, role: "button", "aria-label": label,
      onclick: open, onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } },
    };
  }

  function renderTransactions() {
    const rows = state.transactions.slice(0, MAX_FEED).map((tx) =>
      el("li", { class: `tx ${tx.id === state.newestTx ? "new" : ""}`, "data-id": tx.id,
        ...clickable(`Sale to ${tx.member_name || tx.member}, ${money(tx.total)}. Show why.`, () => showTransaction(tx)) },
        el("span", { class: "who" }, tx.member_name || tx.member),
        el("span", { class: "total" }, money(tx.total)),
        el("span", { class: "items" }, itemsText(tx)),
        el("span", { class: "meta" },
          el("time", { datetime: tx.at }, clockTime(tx.at)), el("span", {}, tx.lane),
          tx.points ? el("span", {}, `+${tx.points} points`) : null,
          el("span", {}, tx.trigger === "exit" ? "at exit" : "settled"))));
    if (!rows.length) rows.push(el("li", { class: "empty" }, "No purchases yet today."));
    $("transactions").replaceChildren(...rows);
    const today = new Date().toDateString();
    const todays = state.transactions.filter((tx) => new Date(tx.at).toDateString() === today);
    const sum = todays.reduce((acc, tx) => acc + Number(tx.total || 0), 0);
    $("tx-summary").textContent = `${todays.length} today · ${money(sum)}`;
  }

  function addTransaction(tx, live) {
    state.transactions = [tx, ...state.transactions.filter((t) => t.id !== tx.id)]
      .sort((a, b) => String(b.at).localeCompare(String(a.at)));
    if (live) state.newestTx = tx.id;
    renderTransactions();
  }

  // -- the decision dialog: what was decided, by which rule, on which reads ------------------------

  const KIND_LABELS = {
    theft: "Theft", sensor: "Sensor", missing: "Missing item", misplaced: "Misplaced item", low_stock: "Restock",
    clone: "Cloned tag?", sold_item_in_store: "Sold item in store", unknown_tag_at_exit: "Unknown tag at exit",
    lane_conflict: "Lane held", lane_conflict_cleared: "Lane clear",
  };
  const kindLabel = (kind) => KIND_LABELS[kind] || kind.replaceAll("_", " ");
  // keys of an alert's details that have their own place in the dialog
  const SHOWN_ELSEWHERE = new Set(["params", "zone_sequence", "evidence", "rule", "members"]);

  function section(title, ...content) {
    return el("section", { class: "why" }, el("h3", {}, title), ...content);
  }

  function factList(entries) {
    return el("dl", { class: "facts" }, entries.flatMap(([k, v]) => [el("dt", {}, k.replaceAll("_", " ")), el("dd", {}, v)]));
  }

  function ruleSection(rule, params) {
    const pairs = Object.entries(params || {});
    if (!rule && !pairs.length) return null;
    return section("Rule",
      el("p", { class: "rule-name" }, rule || "—"),
      pairs.length ? el("ul", { class: "params" }, pairs.map(([k, v]) => el("li", {}, el("span", {}, k), el("b", {}, v)))) : null);
  }

  function pathSection(zones) {
    if (!zones || !zones.length) return null;
    return section("Zones passed", el("ol", { class: "path" }, zones.map((z) => el("li", {}, z))));
  }

  function readRows(evidence, fallbackTag) {
    return (evidence || []).map((e) => e.sensor !== undefined
      ? el("tr", {}, // a sensor sample: its value against the rule's threshold in the reads' columns
        el("td", {}, clockTime(e.at)), el("td", {}, e.sensor), el("td", {}, e.zone || ""),
        el("td", {}, e.gateway || ""),
        el("td", { colspan: 3 }, `${e.value}${e.unit ? " " + e.unit : ""} (threshold ${e.threshold ?? "?"})`))
      : el("tr", {},
        el("td", {}, readTime(e.at)), el("td", {}, e.tag || fallbackTag || ""), el("td", {}, e.zone || ""),
        el("td", {}, `${e.gateway ? e.gateway + "/" : ""}${e.reader || ""}${e.antenna !== undefined ? ":" + e.antenna : ""}`),
        el("td", {}, e.rssi ?? "–"), el("td", {}, e.count ?? ""), el("td", {}, e.event || "")));
  }

  function openDialog({ kind, title, message, badges, body, evidence, fallbackTag, clear }) {
    $("evidence-kind").textContent = kind;
    $("evidence-title").textContent = title;
    $("evidence-message").textContent = message || "";
    $("evidence-badges").replaceChildren(...badges.filter(Boolean).map(([text, cls]) => el("li", { class: `badge ${cls || ""}` }, text)));
    $("evidence-body").replaceChildren(...body.filter(Boolean));
    const rows = readRows(evidence, fallbackTag);
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "none" }, "No reads recorded with this decision.")));
    $("evidence-rows").replaceChildren(...rows);
    const button = $("evidence-clear");
    button.hidden = !clear;
    button.onclick = clear || null;
    const dialog = $("evidence");
    if (!dialog.open) dialog.showModal();
  }

  function decidedBadge(alert) {
    if (alert.source === "edge") {
      const ms = alert.latency_ms;
      return [`decided at the gateway${ms !== null && ms !== undefined ? ` in ${Math.round(ms)} ms` : ""}`, "edge"];
    }
    if (alert.source === "ingest") return ["decided by ingest", ""];
    return null;
  }

  function holdSection(hold) {
    if (!hold) return null;
    const owner = new Map(hold.members.map((m) => [m.id, m.name || m.id]));
    return section(`Lane ${hold.lane}${hold.held ? " · held, nothing charged" : " · no longer held"}`,
      el("p", { class: "members" }, hold.members.map((m) => el("span", { class: "chip member" }, m.name ? `${m.name} (${m.id})` : m.id))),
      hold.items.length
        ? el("table", { class: "lines" }, el("tbody", {}, hold.items.map((x) => el("tr", {},
          el("td", {}, x.name), el("td", { class: "mono" }, x.tag), el("td", {}, `in ${owner.get(x.member) || x.member}'s basket`)))))
        : el("p", { class: "muted" }, "No items in the lane's baskets."));
  }

  function detailsSection(details) {
    const entries = Object.entries(details || {}).filter(([k, v]) => !SHOWN_ELSEWHERE.has(k) && v !== null && v !== "")
      .map(([k, v]) => [k, typeof v === "object" ? (Array.isArray(v) ? v.join(", ") : JSON.stringify(v)) : String(v)]);
    return entries.length ? section("Details", factList(entries)) : null;
  }

  function showAlertDialog(alert) {
    const cleared = Boolean(alert.cleared_at);
    openDialog({
      kind: kindLabel(alert.kind),
      title: alert.tag || (alert.zone ? `${alert.zone}` : clockTime(alert.at)),
      message: alert.message,
      badges: [
        [cleared ? `cleared ${clockTime(alert.cleared_at)}` : "open", cleared ? "cleared" : alert.severity],
        [`raised ${clockTime(alert.at)}`, ""],
        alert.tag && alert.zone ? [alert.zone, ""] : null,
        decidedBadge(alert),
      ],
      body: [ruleSection(alert.rule || alert.details?.rule, alert.params), pathSection(alert.zone_sequence),
        holdSection(alert.hold),
        detailsSection(alert.details)],
      evidence: alert.evidence,
      fallbackTag: alert.tag,
      clear: cleared ? null : () => clearAlert(alert),
    });
  }

  async function showEvidence(alert) {
    showAlertDialog(alert); // what the list knows, at once; the stored row (rule, hold) when it arrives
    try {
      const full = await getJson(`/api/alerts/${encodeURIComponent(alert.id)}`);
      const known = state.alerts.find((a) => String(a.id) === String(full.id));
      if (known) Object.assign(known, full);
      if ($("evidence").open) showAlertDialog(full);
    } catch (err) { console.warn(err); }
  }

  async function clearAlert(alert) {
    try {
      const response = await fetch(`/api/alerts/${encodeURIComponent(alert.id)}/clear`,
        { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`clear: HTTP ${response.status}`);
      const cleared = await response.json();
      addAlert(cleared, false);
      showAlertDialog(cleared);
      scheduleStock();
    } catch (err) { console.error(err); }
  }

  async function showTransaction(tx) {
    let detail = tx;
    try { detail = await getJson(`/api/transactions/${encodeURIComponent(tx.id)}`); } catch (err) { console.warn(err); }
    const why = detail.explanation || {};
    const lines = detail.lines || [];
    openDialog({
      kind: "Sale",
      title: `${detail.member_name || detail.member} · ${money(detail.total)}`,
      message: `${lines.length || detail.line_count || 0} item${(lines.length || detail.line_count) === 1 ? "" : "s"} in ${detail.lane}, `
        + `${detail.trigger === "exit" ? "committed when the basket reached the exit" : "committed after the settle time"}`
        + ` at ${clockTime(detail.at)}.`,
      badges: [[detail.trigger === "exit" ? "at exit" : "settled", ""], detail.points ? [`+${detail.points} points`, ""] : null,
        [detail.id, "mono"]],
      body: [
        lines.length ? section("Lines", el("table", { class: "lines" }, el("tbody", {},
          lines.map((x) => el("tr", {}, el("td", {}, x.name), el("td", { class: "mono" }, x.tag),
            el("td", { class: "price" }, money(x.unit_price)))),
          el("tr", { class: "sum" }, el("td", { colspan: 2 }, "Total"), el("td", { class: "price" }, money(detail.total)))))) : null,
        ruleSection(why.rule, why.params), pathSection(why.zone_sequence),
        detail.explanation ? null : el("p", { class: "muted" }, "This sale was stored without an explanation."),
      ],
      evidence: why.evidence,
    });
  }

  // -- alerts ---------------------------------------------------------------------------------------

  function renderAlerts() {
    const rows = state.alerts.slice(0, MAX_FEED).map((a) =>
      el("li", {
        class: `alert ${a.kind} ${a.severity} ${a.fresh ? "new" : ""} ${a.cleared_at ? "cleared" : ""}`,
        "data-id": a.id,
        ...clickable(`${kindLabel(a.kind)}: ${a.message}. Show evidence.`, () => showEvidence(a)),
      },
      el("div", { class: "kind" }, kindLabel(a.kind),
        a.source === "edge" ? el("span", { class: "tag-edge" }, "gateway") : null,
        a.cleared_at ? el("span", { class: "tag-cleared" }, "cleared") : null),
      el("div", { class: "message" }, a.message),
      el("div", { class: "meta" }, [clockTime(a.at), a.zone, a.tag,
        a.source === "edge" && a.latency_ms !== null && a.latency_ms !== undefined ? `${Math.round(a.latency_ms)} ms` : null,
        a.cleared_at ? `cleared ${clockTime(a.cleared_at)}` : null].filter(Boolean).join(" · "))));
    if (!rows.length) rows.push(el("li", { class: "empty" }, "All quiet."));
    $("alerts").replaceChildren(...rows);
    const open = state.alerts.filter((a) => !a.cleared_at).length;
    $("alerts-summary").textContent = `${open} open`;
  }

  function addAlert(alert, live) {
    const key = String(alert.id);
    // A cleared alert comes again with the same id and its cleared_at: it replaces the open one, quietly.
    const cleared = Boolean(alert.cleared_at);
    state.alerts = [{ ...alert, fresh: live && !cleared }, ...state.alerts.filter((a) => String(a.id) !== key)]
      .sort((a, b) => String(b.at).localeCompare(String(a.at)));
    if (live && !cleared && alert.zone && (alert.kind === "theft" || alert.severity === "critical")) {
      state.alarms.set(alert.zone, Date.now() + ALARM_SHOW_MS);
      renderZones();
    }
    if (STOCK_KINDS.has(alert.kind)) scheduleStock();
    renderAlerts();
  }

  // -- stock: what to restock, what is missing ------------------------------------------------------

  const STOCK_KINDS = new Set(["missing", "misplaced", "low_stock"]);
  let stockTimer = null;

  function scheduleStock() {
    if (stockTimer) return;
    stockTimer = setTimeout(() => { stockTimer = null; loadStock(); }, 800);
  }

  async function loadStock() {
    try { state.stock = await getJson(scoped("/api/stock")); } catch (err) { console.warn(err); return; }
    renderStock();
  }

  function renderStock() {
    const stock = state.stock;
    if (!stock) return;
    const parts = [];
    if (stock.low.length) {
      parts.push(el("h3", {}, "Restock"), el("ul", { class: "stock-list" }, stock.low.map((p) => {
        const where = Object.entries(p.on_shelf).filter(([z]) => z !== "?").map(([z, n]) => `${n} in ${z}`).join(", ");
        return el("li", { class: "low", "data-sku": p.sku },
          el("span", { class: "what" }, p.name),
          el("span", { class: "count num" }, `${p.in_store} / ${p.reorder_below}`),
          el("span", { class: "where" }, where || "none on the shelves"));
      })));
    }
    if (stock.missing.length) {
      parts.push(el("h3", {}, "Missing"), el("ul", { class: "stock-list" }, stock.missing.slice(0, 12).map((m) =>
        el("li", { class: "missing", "data-tag": m.tag },
          el("span", { class: "what" }, m.name),
          el("span", { class: "count mono", title: m.tag }, m.tag.slice(-6)),
          el("span", { class: "where" }, m.last_zone ? `last in ${m.last_zone} ${m.last_seen ? clockTime(m.last_seen) : ""}` : "never seen")))));
      if (stock.missing.length > 12) parts.push(el("p", { class: "muted" }, `and ${stock.missing.length - 12} more`));
    }
    if (!parts.length) parts.push(el("p", { class: "empty" }, "Shelves are stocked; nothing is missing."));
    $("stock").replaceChildren(...parts);
    const misplaced = stock.open_alerts.misplaced || 0;
    $("stock-summary").textContent = [`${stock.low.length} to restock`, `${stock.missing.length} missing`,
      misplaced ? `${misplaced} misplaced` : null].filter(Boolean).join(" · ");
  }

  // -- gateways -------------------------------------------------------------------------------------

  function renderGateways() {
    const chips = [...state.gateways.values()]
      .sort((a, b) => a.gateway.localeCompare(b.gateway))
      .map((g) => el("li", { class: `gateway ${g.state}`, title: `since ${clockTime(g.at)}` },
        el("span", { class: "dot" }), g.gateway, el("small", {}, g.state)));
    $("gateways").replaceChildren(...chips);
  }

  // -- charts ---------------------------------------------------------------------------------------

  function niceMax(value) {
    // four grid steps of a round size: 1, 2, 5, 10, 20, 50, ...
    const raw = Math.max(value, 4) / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    for (const step of [1, 2, 5, 10]) if (raw <= step * magnitude) return 4 * Math.max(1, step * magnitude);
    return 40 * magnitude;
  }

  function drawChart(node, lines, { xMin, xMax, yMin, yMax, yFormat, limit, xTicks }) {
    const width = node.clientWidth || 600;
    const height = node.clientHeight || 220;
    const pad = { left: 46, right: 12, top: 10, bottom: 24 };
    const x = (v) => pad.left + ((v - xMin) / (xMax - xMin || 1)) * (width - pad.left - pad.right);
    const y = (v) => height - pad.bottom - ((v - yMin) / (yMax - yMin || 1)) * (height - pad.top - pad.bottom);
    node.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const parts = [];
    for (let i = 0; i <= 4; i += 1) {
      const value = yMin + ((yMax - yMin) * i) / 4;
      parts.push(svg("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }));
      parts.push(svg("text", { class: "axis", x: pad.left - 8, y: y(value) + 4, "text-anchor": "end" }, yFormat(value)));
    }
    for (const [at, label] of xTicks) {
      parts.push(svg("text", { class: "axis", x: x(at), y: height - 6, "text-anchor": "middle" }, label));
    }
    if (limit !== undefined && limit >= yMin && limit <= yMax) {
      parts.push(svg("line", { class: "limit", x1: pad.left, x2: width - pad.right, y1: y(limit), y2: y(limit) }));
      parts.push(svg("text", { class: "limit-label", x: width - pad.right - 4, y: y(limit) - 5, "text-anchor": "end" },
        `limit ${yFormat(limit)}`));
    }
    for (const line of lines) {
      if (!line.points.length) continue;
      const d = line.points.map(([px, py], i) => `${i ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
      parts.push(svg("path", { class: "series", d, stroke: line.colour }));
      const [lx, ly] = line.points[line.points.length - 1];
      if (line.dot) parts.push(svg("circle", { cx: x(lx), cy: y(ly), r: 4, fill: line.colour }));
    }
    node.replaceChildren(...parts);
  }

  function minuteTicks(start, end) {
    const ticks = [];
    for (let m = 0; m <= 10; m += 2) {
      const at = end - m * 60;
      if (at >= start - 1) ticks.push([at, m ? `−${m} min` : "now"]);
    }
    return ticks;
  }

  function colourOf(index) { return SERIES_COLOURS[index % SERIES_COLOURS.length]; }

  function renderRates() {
    const end = state.lastSecond;
    const start = end - RATE_WINDOW + 1;
    const zones = zoneNames().filter((z) => state.reads.has(z));
    let peak = 0;
    const lines = zones.map((zone, i) => {
      const perSecond = state.reads.get(zone);
      const points = [];
      for (let s = start; s <= end; s += 1) {
        const n = perSecond.get(s) || 0;
        if (n > peak) peak = n;
        points.push([s, n]);
      }
      return { name: zone, colour: colourOf(i), points };
    });
    drawChart($("rates-chart"), lines, {
      xMin: start, xMax: end, yMin: 0, yMax: niceMax(peak), yFormat: (v) => String(Math.round(v)),
      xTicks: minuteTicks(start, end),
    });
    $("rates-legend").replaceChildren(...lines.map((l) => el("li", { style: `--c:${l.colour}` },
      `${l.name} ${state.reads.get(l.name).get(end) || 0}/s`)));
  }

  function renderTemperature() {
    const end = Date.now() / 1000;
    const start = end - RATE_WINDOW;
    const names = [...state.series.keys()].sort();
    let lo = Infinity;
    let hi = -Infinity;
    const lines = names.map((name, i) => {
      const points = state.series.get(name).filter(([t]) => t >= start);
      for (const [, v] of points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      return { name, colour: colourOf(i + 2), points, dot: true };
    });
    if (!Number.isFinite(lo)) { lo = 0; hi = 8; }
    const yMin = Math.floor(Math.min(lo, TEMP_LIMIT) - 1);
    const yMax = Math.ceil(Math.max(hi, TEMP_LIMIT) + 1);
    drawChart($("temp-chart"), lines, {
      xMin: start, xMax: end, yMin, yMax, yFormat: (v) => `${v.toFixed(1)}°`, limit: TEMP_LIMIT,
      xTicks: minuteTicks(start, end),
    });
    const latest = names.map((n) => state.sensors.get(n)).filter(Boolean);
    const hot = latest.some((s) => s.value > TEMP_LIMIT);
    const figure = $("temp-now");
    figure.textContent = latest.length ? latest.map((s) => `${s.value.toFixed(1)} °C`).join(" · ") : "no sensor yet";
    figure.classList.toggle("hot", hot);
    $("temp-legend").replaceChildren(...lines.map((l) => el("li", { style: `--c:${l.colour}` },
      `${l.name}${state.sensors.get(l.name)?.zone ? " (" + state.sensors.get(l.name).zone + ")" : ""}`)));
  }

  // -- live state -----------------------------------------------------------------------------------

  function applyPresence(presence) {
    state.presence = new Map(presence.map((z) => [z.zone, z]));
  }

  function applySensors(sensors) {
    for (const sample of sensors) {
      state.sensors.set(sample.sensor, sample);
      if (sample.kind !== "temperature") continue;
      const series = state.series.get(sample.sensor) || [];
      const t = new Date(sample.at).getTime() / 1000;
      if (!series.length || series[series.length - 1][0] < t) series.push([t, sample.value]);
      while (series.length && series[0][0] < t - RATE_WINDOW) series.shift();
      state.series.set(sample.sensor, series);
    }
  }

  function applyGateways(gateways) {
    for (const g of gateways) state.gateways.set(`${g.store}/${g.gateway}`, g);
  }

  function applySnapshot(snap) {
    state.reads = new Map();
    for (const [zone, counts] of Object.entries(snap.rates)) {
      const perSecond = new Map();
      counts.forEach((n, i) => { if (n) perSecond.set(snap.rate_start + i, n); });
      state.reads.set(zone, perSecond);
    }
    state.lastSecond = snap.second;
    state.series = new Map(Object.entries(snap.series));
    applyPresence(snap.presence);
    applySensors(snap.sensors);
    applyGateways(snap.gateways.filter(inStore));
    renderAll();
  }

  function applyTick(tick) {
    state.lastSecond = tick.second;
    for (const [zone, n] of Object.entries(tick.reads)) {
      const perSecond = state.reads.get(zone) || new Map();
      if (n) perSecond.set(tick.second, n);
      for (const s of perSecond.keys()) if (s <= tick.second - RATE_WINDOW) perSecond.delete(s);
      state.reads.set(zone, perSecond);
    }
    applyPresence(tick.presence);
    applySensors(tick.sensors);
    applyGateways(tick.gateways);
    renderZones();
    renderGateways();
    renderRates();
    renderTemperature();
  }

  function renderAll() {
    renderZones();
    renderGateways();
    renderTransactions();
    renderAlerts();
    renderRates();
    renderTemperature();
  }

  function connect() {
    const link = $("link");
    const source = new EventSource("/api/live");
    source.onopen = () => { link.textContent = "Live"; link.className = "pill pill-live"; };
    source.onerror = () => { link.textContent = "Reconnecting…"; link.className = "pill pill-wait"; };
    const on = (name, handler) => source.addEventListener(name, (ev) => {
      try { handler(JSON.parse(ev.data)); } catch (err) { console.error(`live event ${name}:`, err); }
    });
    on("snapshot", applySnapshot);
    on("tick", applyTick);
    on("transaction", (tx) => { if (inStore(tx)) addTransaction(tx, true); });
    on("alert", (alert) => { if (inStore(alert)) addAlert(alert, true); });
    on("status", (g) => { if (inStore(g)) { applyGateways([g]); renderGateways(); } });
    on("inventory", () => scheduleStock());
  }

  async function loadDetails(list) {
    // The list endpoint counts lines; the newest few are worth naming.
    await Promise.all(list.slice(0, 12).map(async (tx) => {
      try {
        const detail = await getJson(`/api/transactions/${encodeURIComponent(tx.id)}`);
        const known = state.transactions.find((t) => t.id === tx.id);
        if (known && !known.lines) known.lines = detail.lines;
      } catch (err) { console.warn(err); }
    }));
    renderTransactions();
  }

  async function loadStores() {
    let stores = [];
    try { stores = await getJson("/api/stores"); } catch (err) { console.warn(err); return; }
    if (stores.length < 2) return;
    const select = $("store");
    select.append(el("option", { value: "" }, `All ${stores.length} stores`),
      ...stores.map((s) => el("option", { value: s.id, selected: s.id === chosenStore }, s.name || s.id)));
    select.value = chosenStore;
    select.addEventListener("change", () => {
      const url = new URL(location.href);
      if (select.value) url.searchParams.set("store", select.value); else url.searchParams.delete("store");
      location.assign(url);
    });
    select.hidden = false;
  }

  async function start() {
    setInterval(() => { $("clock").textContent = timeFormat.format(new Date()); }, 1000);
    $("clock").textContent = timeFormat.format(new Date());
    window.addEventListener("resize", () => { renderRates(); renderTemperature(); });
    renderAll();
    connect();
    try {
      const [zones, transactions, alerts] = await Promise.all([
        getJson(scoped("/api/zones")), getJson(scoped("/api/transactions?limit=40")),
        getJson(scoped("/api/alerts?limit=40")),
      ]);
      loadStores();
      for (const zone of zones) state.zones.set(zone.name, zone);
      if (zones.length) $("store-name").textContent = zones[0].store;
      for (const tx of transactions.reverse()) addTransaction(tx, false);
      for (const alert of alerts.reverse()) addAlert(alert, false);
      renderAll();
      loadDetails(state.transactions);
      loadStock();
      setInterval(loadStock, 30000);
    } catch (err) {
      console.error(err);
      $("link").textContent = "API unavailable";
      $("link").className = "pill pill-wait";
    }
  }

  start();
})();
