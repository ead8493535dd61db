// Member and marketing pages: one GET each, drawn with text-only DOM and inline SVG (nothing is parsed as HTML).
"use strict";

(() => {
  const { el, svg, $ } = window.scDom; // dom.js: text only, nothing from the wire is parsed as HTML
  const currency = document.body.dataset.currency || "EUR";
  const moneyFormat = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
  const money = (v) => { const n = Number(v); return Number.isFinite(n) ? moneyFormat.format(n) : String(v ?? "—"); };
  const day = (iso) => { if (!iso) return "—"; const d = new Date(iso); return Number.isNaN(d.getTime()) ? "" : dayFormat.format(d); };
  const pct = (x) => (x === null || x === undefined ? "—" : `${(Number(x) * 100).toFixed(0)} %`);

  async function getJson(path, init) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json",
      "Content-Type": "application/json" }, ...init });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }
  const figure = (label, value, hint) => el("div", { class: "figure" },
    el("div", { class: "label" }, label), el("div", { class: "value" }, value), hint ? el("div", { class: "hint" }, hint) : null);
  const badge = (text, cls) => el("span", { class: `badge ${cls || text}` }, text);
  const empty = (text) => el("p", { class: "empty" }, text);
  function table(headers, rows) {
    if (!rows.length) return empty("Nothing yet.");
    return el("table", { class: "data" },
      el("thead", {}, el("tr", {}, headers.map(([h, cls]) => el("th", { class: cls }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { class: headers[i][1] }, c))))));
  }
  const memberLink = (id, name) => el("a", { href: `/members?id=${encodeURIComponent(id)}` }, name || id);

  // -- charts -----------------------------------------------------------------------------------------
  function size(node) { const box = node.getBoundingClientRect(); return [Math.max(box.width, 320), Math.max(box.height, 200)]; }

  function bars(node, items, { format = String, alt = false } = {}) {
    node.replaceChildren();
    const [w, h] = size(node);
    node.setAttribute("viewBox", `0 0 ${w} ${h}`);
    if (!items.length) { node.append(svg("text", { x: 12, y: 24 }, "No data yet.")); return; }
    const pad = { l: 12, r: 12, t: 22, b: 28 };
    const max = Math.max(1, ...items.map((d) => Number(d.value)));
    const slot = (w - pad.l - pad.r) / items.length;
    node.append(svg("line", { class: "axis", x1: pad.l, x2: w - pad.r, y1: h - pad.b, y2: h - pad.b }));
    items.forEach((d, i) => {
      const bh = ((h - pad.t - pad.b) * Number(d.value)) / max;
      const x = pad.l + i * slot + slot * 0.15;
      const bw = slot * 0.7;
      node.append(svg("rect", { class: alt ? "bar alt" : "bar", x, y: h - pad.b - bh, width: bw, height: bh, rx: 4 }));
      node.append(svg("text", { class: "value", x: x + bw / 2, y: h - pad.b - bh - 6, "text-anchor": "middle" }, format(d.value)));
      node.append(svg("text", { x: x + bw / 2, y: h - 8, "text-anchor": "middle" }, d.label));
    });
  }

  function curves(node, series) {
    node.replaceChildren();
    const [w, h] = size(node);
    node.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const pad = { l: 40, r: 12, t: 12, b: 28 };
    const X = (x) => pad.l + x * (w - pad.l - pad.r);
    const Y = (y) => h - pad.b - y * (h - pad.t - pad.b);
    node.append(svg("line", { class: "axis", x1: X(0), x2: X(1), y1: Y(0), y2: Y(0) }));
    node.append(svg("line", { class: "axis", x1: X(0), x2: X(0), y1: Y(0), y2: Y(1) }));
    node.append(svg("path", { class: "even", d: `M${X(0)},${Y(0)} L${X(1)},${Y(1)}` }));
    for (const t of [0, 0.5, 1]) {
      node.append(svg("text", { x: X(t), y: h - 8, "text-anchor": "middle" }, pct(t)));
      node.append(svg("text", { x: pad.l - 6, y: Y(t) + 4, "text-anchor": "end" }, pct(t)));
    }
    series.forEach((s, i) => {
      const pts = [[0, 0], ...s.points.map((p) => [Number(p.share), Number(p.revenue_share)])];
      const d = pts.map(([x, y], j) => `${j ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
      node.append(svg("path", { class: i ? "curve alt" : "curve", d }));
    });
  }

  // -- member page ------------------------------------------------------------------------------------
  const MAX_DECISIONS = 10;
  const STAGES = ["awareness", "exploration", "expansion", "commitment", "dissolution"];

  async function memberPage() {
    const params = new URLSearchParams(location.search);
    const id = params.get("id");
    $("member-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      location.search = `?id=${encodeURIComponent($("member-id").value.trim())}`;
    });
    if (!id) {
      const board = await getJson("/api/marketing");
      $("member-list").replaceChildren(membersTable(board.members));
      return;
    }
    $("member-id").value = id;
    try {
      showMember(await getJson(`/api/members/${encodeURIComponent(id)}/crm`));
    } catch (err) {
      $("member-head").replaceChildren(el("p", { class: "error" }, `Could not load member ${id}: ${err.message}`));
    }
  }

  function showMember(m) {
    document.querySelectorAll("[data-crm]").forEach((n) => { n.hidden = false; });
    document.title = `Silent Commerce · ${m.name}`;
    $("page-sub").textContent = m.name;
    $("member-head").replaceChildren(el("div", { class: "figures" },
      figure("Name", m.name, m.id),
      figure("Household", m.household || "—", m.joined_at ? `member since ${day(m.joined_at)}` : null),
      figure("Visits", String(m.visits), m.last_purchase ? `last purchase ${day(m.last_purchase)}` : "no purchase yet"),
      figure("Points", String(m.points))));
    $("household").replaceChildren(...householdFigures(m.household_totals), memberLinkButton(m));
    const v = m.value;
    $("value-class").replaceChildren(m.abc ? badge(`class ${m.abc}`, m.abc) : "");
    $("value").replaceChildren(
      figure("Historical", money(v.historical), "all purchases"),
      figure("Current", money(v.current), `last ${v.window_days} days`),
      figure("Potential", money(v.potential), "current × category breadth"),
      figure("Lifetime", money(v.lifetime), "weekly margin × expected weeks"),
      figure("Per week", money(v.weekly_spend), m.list_eligible ? "gets a personal list" : "below the list threshold"),
      figure("RFM", m.rfm ? `${m.rfm.r}·${m.rfm.f}·${m.rfm.m}` : "—", "recency · frequency · money, 1–5"));
    $("stages").replaceChildren(...STAGES.map((s) => el("li", { class: s === m.stage.current ? "current" : null }, s)));
    $("stage-since").textContent = m.stage.since ? `since ${day(m.stage.since)}` : "";
    consentForm(m);
    $("segments").replaceChildren(table([["Category"], ["Brand loyalty"], ["Usage"], ["Spend", "num"]],
      m.segments.map((s) => [s.category, s.loyalty, s.usage, money(s.spend)])));
    $("cycles").replaceChildren(table([["Product"], ["Every", "num"], ["Bought", "num"], ["Last"], ["Next due"]],
      m.cycles.map((c) => [c.name, c.mean_interval_days === null ? "—" : `${Number(c.mean_interval_days).toFixed(1)} d`,
        String(c.count), day(c.last), day(c.next_due)])));
    $("lists-summary").textContent = m.lists.length
      ? `${m.lists.length} personal list${m.lists.length > 1 ? "s" : ""}, latest ${day(m.lists[0].period_start)}` : "no personal list yet";
    $("offers").replaceChildren(table([["Offer"], ["Saves", "num"], ["Active"], ["Status"], ["Why"]],
      m.offers.map((o) => [o.name, o.kind === "reward" ? "reward" : money(o.discount_abs),
        `${day(o.active_from)} – ${day(o.active_to)}`, badge(o.status), o.reason])));
    $("history-summary").textContent = `${m.transaction_count} purchases, ${money(m.total_spent)}`;
    $("history").replaceChildren(table([["When"], ["Items"], ["Saved", "num"], ["Total", "num"]],
      m.history.map((t) => [day(t.at), t.items.join(", "), money(t.saved), money(t.total)])));
    $("disputes").replaceChildren(table([["Opened"], ["Item"], ["Outcome"], ["Why"]],
      m.disputes.map((d) => [day(d.opened_at), d.tag, d.status === "needs_human" ? decideDispute(m, d) : badge(d.status),
        d.resolution || d.reason])));
    $("transitions").replaceChildren(...(m.stage.transitions.length
      ? m.stage.transitions.slice(0, 4).map(decision) : [empty("No stage change yet.")]));
    const shown = m.decisions.slice(0, MAX_DECISIONS);
    $("decisions").replaceChildren(...(shown.length ? shown.map(decision) : [empty("No automatic decision yet.")]));
    $("decisions-summary").textContent = m.decisions.length > shown.length
      ? `latest ${shown.length} of ${m.decisions.length}` : "rule, data, context and reason";
  }

  // A link for the member to see their own records and dispute a charge (no login; it expires).
  function memberLinkButton(m) {
    const out = el("span", { class: "muted", id: "member-link" });
    const issue = el("button", { type: "button", class: "button quiet" }, "Issue the member's own link");
    issue.onclick = async () => {
      try {
        const link = await getJson(`/api/members/${encodeURIComponent(m.id)}/link`, { method: "POST", body: "{}" });
        out.replaceChildren(el("a", { href: link.url, rel: "noreferrer" }, `${location.origin}${link.url}`),
          ` (until ${day(link.expires_at)})`);
      } catch (err) { out.textContent = err.message; }
    };
    return el("p", {}, issue, " ", out);
  }

  function householdFigures(h) {
    if (!h) return [];
    return [el("h3", {}, `Household: ${h.name}`), el("div", { class: "figures" },
      figure("Members", String(h.members.length), h.members.map((x) => x.name).join(", ")),
      figure("Spent", money(h.historical), "all purchases"),
      figure("Current", money(h.current), "the current window"),
      figure("Visits", String(h.visits), `${h.purchases} purchases`))];
  }

  // A dispute the decision table left to a person: staff refund it or keep the charge; the outcome is published.
  function decideDispute(m, d) {
    const note = el("span", { class: "muted" });
    const decide = (status) => async () => {
      try {
        await getJson(`/api/disputes/${d.id}/resolve`, { method: "POST", body: JSON.stringify({ status }) });
        showMember(await getJson(`/api/members/${encodeURIComponent(m.id)}/crm`));
      } catch (err) { note.textContent = err.message; }
    };
    return el("span", { class: "decide" }, badge(d.status),
      el("button", { type: "button", class: "button quiet", onclick: decide("refunded") }, "Refund"),
      el("button", { type: "button", class: "button quiet", onclick: decide("kept") }, "Keep"), note);
  }

  function decision(d) {
    const facts = [...Object.entries(d.data), ...Object.entries(d.context)];
    return el("li", { class: `decision ${d.kind}` },
      el("div", { class: "head" }, el("span", {}, `${d.kind} · ${d.rule}`), el("time", {}, day(d.at))),
      el("p", { class: "reason" }, d.reason),
      facts.length ? el("details", {}, el("summary", {}, `data and context (${facts.length})`),
        el("dl", {}, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))) : null);
  }

  function consentForm(m) {
    const form = $("consent");
    const scopes = [["offers", "Offers"], ["reminders", "Reminders"], ["data_sharing", "Data sharing"]];
    const boxes = scopes.map(([key, label]) => el("label", {},
      el("input", { type: "checkbox", name: key, checked: m.consent[key] }), label));
    const saved = el("span", { class: "muted" }, m.consent.changed_at ? `changed ${day(m.consent.changed_at)}` : "");
    const save = el("button", { type: "submit", class: "button quiet" }, "Save consent");
    form.replaceChildren(...boxes, save, saved);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const body = Object.fromEntries(scopes.map(([key]) => [key, form.elements[key].checked]));
      try {
        showMember(await getJson(`/api/members/${encodeURIComponent(m.id)}/consent`,
          { method: "POST", body: JSON.stringify(body) }));
      } catch (err) { saved.textContent = err.message; }
    };
  }

  function membersTable(members) {
    return table([["Member"], ["Class"], ["Stage"], ["Historical", "num"], ["Current", "num"], ["Per week", "num"]],
      members.map((m) => [memberLink(m.id, m.name), badge(m.abc || "—", m.abc), badge(m.stage),
        money(m.historical), money(m.current), money(m.weekly_spend)]));
  }

  // -- marketing page ---------------------------------------------------------------------------------
  const LOYALTY = ["national", "swinger", "store"];
  const USAGE = ["low", "medium", "high"];

  async function marketingPage() {
    const b = await getJson("/api/marketing");
    $("period").textContent = `${day(b.period_from)} – ${day(b.period_to)}`;
    const a = b.acquisition;
    const last = b.retention.length ? b.retention[b.retention.length - 1] : null;
    $("acquisition").replaceChildren(
      figure("Members", String(b.member_count), `${a.new_members} new in the period`),
      figure("Acquisition rate", pct(a.rate), `${a.new_members} new of ${a.visitors} visitors`),
      figure("Unit acquisition cost", a.unit_cost === null ? "—" : money(a.unit_cost),
        a.campaigns.length ? `${a.campaigns.length} campaign${a.campaigns.length > 1 ? "s" : ""}, ${money(a.campaign_cost)}` : "no campaign entered"),
      figure("Retention", last ? pct(last.rate) : "—", last ? `${last.retained} of ${last.active} kept` : "not enough history"),
      figure("Redeemed offers", String(b.redemptions.reduce((s, r) => s + r.count, 0)),
        `saved ${money(b.redemptions.reduce((s, r) => s + Number(r.saved), 0))}`));
    bars($("funnel-chart"), b.funnel.map((f) => ({ label: f.step, value: f.count })));
    heatmap(b.segment_grid);
    curves($("pareto-chart"), [{ points: b.pareto.members }, { points: b.pareto.products }]);
    $("pareto-summary").textContent = `top 20 %: ${pct(b.pareto.top20_members)} of revenue (members), ${pct(b.pareto.top20_products)} (products)`;
    $("pareto-legend").replaceChildren(
      el("li", { style: "--c: var(--accent)" }, "members"),
      el("li", { style: "--c: var(--warn)" }, "products"));
    bars($("redemptions-chart"), b.redemptions.map((r) => ({ label: day(r.week).replace(/ \d{4}$/, ""), value: r.count })), { alt: true });
    $("red-summary").textContent = b.redemptions.length ? `${b.redemptions.length} weeks` : "";
    $("retention").replaceChildren(table([["Period"], ["Active", "num"], ["Kept next period", "num"], ["Rate", "num"]],
      b.retention.map((r) => [day(r.period_start), String(r.active), String(r.retained), pct(r.rate)])));
    $("pairs").replaceChildren(table([["Bought"], ["With"], ["Support", "num"], ["Confidence", "num"], ["Lift", "num"]],
      b.pairs.map((p) => [p.a_name, p.b_name, pct(p.support), pct(p.confidence), Number(p.lift).toFixed(2)])));
    $("members").replaceChildren(membersTable(b.members));
  }

  function heatmap(grid) {
    const node = $("heatmap");
    const count = (l, u) => (grid.find((c) => c.loyalty === l && c.usage === u) || { count: 0 }).count;
    const max = Math.max(1, ...grid.map((c) => c.count));
    const cells = [el("div", { class: "head" }, ""), ...USAGE.map((u) => el("div", { class: "head", role: "columnheader" }, `${u} usage`))];
    for (const l of LOYALTY) {
      cells.push(el("div", { class: "row-head", role: "rowheader" }, l === "swinger" ? "swingers" : `${l} brand`));
      for (const u of USAGE) {
        const n = count(l, u);
        const alpha = (0.08 + 0.72 * (n / max)).toFixed(2);
        cells.push(el("div", { class: "cell", role: "cell", "data-cell": `${l}-${u}`,
          style: `background: rgba(56, 189, 248, ${alpha})` }, String(n)));
      }
    }
    node.replaceChildren(...cells);
  }

  // -- a member's own page (opened with their signed link; the API path carries the same token) -------------
  const DECISION_GROUPS = [["charge", "Charges"], ["offer", "Offers"], ["refusal", "Refusals"], ["dispute", "Disputes"],
    ["stage", "Your relationship with the store"]];

  async function mePage() {
    const api = `/api${location.pathname}`;
    showMe(await getJson(api), api);
  }

  function showMe(m, api) {
    $("me-h").textContent = `Hello ${m.name}`;
    $("link-expiry").textContent = `this link works until ${day(m.link_expires_at)}`;
    $("me-head").replaceChildren(el("div", { class: "figures" },
      figure("Points", String(m.points)),
      figure("Purchases", String(m.purchases.length), "the latest 20"),
      figure("Personal offers", m.consent.offers ? "yes" : "no", m.consent.offers ? "you agreed to offers" : "you have not agreed to offers")));
    $("purchases").replaceChildren(...(m.purchases.length ? m.purchases.map((p) => purchase(p, api)) : [empty("No purchase yet.")]));
    $("my-offers").replaceChildren(table([["Offer"], ["Saves", "num"], ["Active"], ["Status"], ["Why"]],
      m.offers.map((o) => [o.name, o.kind === "reward" ? "reward" : money(o.discount_abs),
        `${day(o.active_from)} – ${day(o.active_to)}`, badge(o.status), o.reason])));
    const itemNames = new Map(m.purchases.flatMap((p) => p.lines.map((x) => [x.tag, x.name])));
    $("my-disputes").replaceChildren(table([["Opened"], ["Item"], ["Outcome"], ["Why"]],
      m.disputes.map((d) => [day(d.opened_at), itemNames.get(d.tag) || d.tag, badge(d.status), d.resolution || d.reason])));
    $("my-decisions").replaceChildren(...DECISION_GROUPS.flatMap(([kind, title]) => {
      const shown = m.decisions.filter((d) => d.kind === kind).slice(0, MAX_DECISIONS);
      return shown.length ? [el("h3", {}, title), el("ol", { class: "decisions", "data-kind": kind }, shown.map(decision))] : [];
    }));
    if (!m.decisions.length) $("my-decisions").replaceChildren(empty("No automatic decision about you yet."));
  }

  function purchase(p, api) {
    const rows = p.lines.map((x) => [x.name, money(x.unit_price), Number(x.discount) ? `−${money(x.discount)}` : "",
      x.offer_reason || (Number(x.discount) ? "" : "list price"),
      x.dispute ? badge(x.dispute) : disputeButton(p, x, api)]);
    return el("div", { class: "purchase", "data-transaction": p.transaction_id },
      el("h3", {}, `${day(p.at)} · ${money(p.total)}${Number(p.saved) ? ` (saved ${money(p.saved)})` : ""}`),
      table([["Item"], ["Price", "num"], ["Offer", "num"], ["Why"], ["Not yours?"]], rows));
  }

  // "I never bought that": the store decides at once and says why; the outcome is published to the store.
  function disputeButton(p, x, api) {
    const holder = el("span", { class: "dispute" });
    const open = el("button", { type: "button", class: "button quiet" }, "Dispute");
    open.onclick = () => {
      const reason = el("input", { name: "reason", placeholder: "What happened?", "aria-label": "Why you dispute this item", maxlength: "500" });
      const form = el("form", { class: "dispute-form" }, reason, el("button", { class: "button" }, "Send"));
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        try {
          const out = await getJson(`${api}/disputes`, { method: "POST",
            body: JSON.stringify({ transaction_id: p.transaction_id, tag: x.tag, reason: reason.value }) });
          $("dispute-result").textContent = `${x.name}: ${out.reason}`;
          showMe(await getJson(api), api);
        } catch (err) { $("dispute-result").textContent = err.message; }
      };
      holder.replaceChildren(form);
      reason.focus();
    };
    holder.append(open);
    return holder;
  }

  const page = document.body.dataset.page;
  const run = page === "member" ? memberPage : page === "me" ? mePage : marketingPage;
  run().catch((err) => {
    const main = document.querySelector("main");
    main.prepend(el("p", { class: "error wide" }, `Could not load: ${err.message}`));
  }).finally(() => { document.body.dataset.ready = "true"; });
})();
