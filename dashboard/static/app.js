// Silent Commerce operator page: fetches the REST API once, then follows the live feed (SSE).
// Same-origin requests, so the browser's Basic-auth login applies to fetch() and EventSource alike.
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

  const $ = (id) => document.getElementById(id);
  const currency = document.body.dataset.currency || "EUR";
  const moneyFormat = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

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
  };

  // -- small DOM helpers (text only: nothing from the wire is parsed as HTML) -----------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svgNs = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a URL that is loaded
  function svg(tag, attrs, text) {
    const node = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const money = (value) => { const n = Number(value); return Number.isFinite(n) ? moneyFormat.format(n) : String(value); };
  const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const clockTime = (iso) => {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? timeFormat.format(d) : `${dateFormat.format(d)} ${timeFormat.format(d)}`;
  };

  async function getJson(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
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

  function renderTransactions() {
    const rows = state.transactions.slice(0, MAX_FEED).map((tx) =>
      el("li", { class: `tx ${tx.id === state.newestTx ? "new" : ""}`, "data-id": tx.id },
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

  // -- alerts ---------------------------------------------------------------------------------------

  function showEvidence(alert) {
    $("evidence-title").textContent = `${alert.kind.replaceAll("_", " ")} · ${clockTime(alert.at)}`;
    $("evidence-message").textContent = alert.message;
    const rows = (alert.evidence || []).map((e) => e.sensor !== undefined
      ? el("tr", {}, // a sensor sample: its value against the rule's threshold in the reads' columns
        el("td", {}, clockTime(e.at)), el("td", {}, e.sensor), el("td", {}, e.zone || ""),
        el("td", {}, e.gateway || ""),
        el("td", { colspan: 3 }, `${e.value}${e.unit ? " " + e.unit : ""} (threshold ${e.threshold ?? "?"})`))
      : el("tr", {},
        el("td", {}, clockTime(e.at)), el("td", {}, e.tag), el("td", {}, e.zone),
        el("td", {}, `${e.gateway || ""}/${e.reader || ""}:${e.antenna ?? ""}`),
        el("td", {}, e.rssi ?? "–"), el("td", {}, e.count ?? ""), el("td", {}, e.event || "")));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7 }, "No reads recorded with this alert.")));
    $("evidence-rows").replaceChildren(...rows);
    $("evidence").showModal();
  }

  function renderAlerts() {
    const rows = state.alerts.slice(0, MAX_FEED).map((a) =>
      el("li", {
        class: `alert ${a.kind} ${a.severity} ${a.fresh ? "new" : ""} ${a.cleared_at ? "cleared" : ""}`,
        tabindex: 0, role: "button",
        "aria-label": `${a.kind}: ${a.message}. Show evidence.`,
        onclick: () => showEvidence(a), onkeydown: (ev) => { if (ev.key === "Enter") showEvidence(a); },
      },
      el("div", { class: "kind" }, a.kind.replaceAll("_", " ")),
      el("div", { class: "message" }, a.message),
      el("div", { class: "meta" }, [clockTime(a.at), a.zone, a.tag,
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
    renderAlerts();
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
    applyGateways(snap.gateways);
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
    on("transaction", (tx) => addTransaction(tx, true));
    on("alert", (alert) => addAlert(alert, true));
    on("status", (g) => { applyGateways([g]); renderGateways(); });
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

  async function start() {
    setInterval(() => { $("clock").textContent = timeFormat.format(new Date()); }, 1000);
    $("clock").textContent = timeFormat.format(new Date());
    window.addEventListener("resize", () => { renderRates(); renderTemperature(); });
    renderAll();
    connect();
    try {
      const [zones, transactions, alerts] = await Promise.all([
        getJson("/api/zones"), getJson("/api/transactions?limit=40"), getJson("/api/alerts?limit=40"),
      ]);
      for (const zone of zones) state.zones.set(zone.name, zone);
      if (zones.length) $("store-name").textContent = zones[0].store;
      for (const tx of transactions.reverse()) addTransaction(tx, false);
      for (const alert of alerts.reverse()) addAlert(alert, false);
      renderAll();
      loadDetails(state.transactions);
    } catch (err) {
      console.error(err);
      $("link").textContent = "API unavailable";
      $("link").className = "pill pill-wait";
    }
  }

  start();
})();
