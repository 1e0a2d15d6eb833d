// The local dashboard: fetches /local/dashboard/data every `refresh` seconds (written into the page by
// the gateway: ?refresh= or the default) and fills the widgets. Text only (textContent): alarm and
// breaker reasons are shown, never interpreted as markup.
"use strict";

const query = new URLSearchParams(window.location.search);
const dataUrl = "/local/dashboard/data?" + new URLSearchParams([...query].filter(([key]) => key === "window"));
const refreshSeconds = Number(document.body.dataset.refreshSeconds);

function widget(name) {
  return document.querySelector(`[data-widget="${name}"]`);
}

function field(name) {
  return document.querySelector(`[data-field="${name}"]`);
}

function show(name, value) {
  field(name).textContent = value === null || value === undefined ? "-" : String(value);
}

function badge(name, value) {
  const element = field(name);
  element.textContent = value;
  element.className = `badge ${String(value).toLowerCase()}`;
}

function cell(text, className) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text);
  else td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  return td;
}

function bar(percent) {
  const outer = document.createElement("div");
  outer.className = "bar";
  const inner = document.createElement("div");
  inner.style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
  outer.appendChild(inner);
  return outer;
}

function pill(text) {
  const span = document.createElement("span");
  span.className = `badge ${String(text).toLowerCase()}`;
  span.textContent = text;
  return span;
}

// Replace a widget's table body with one row per [key, cells...]; the row carries data-key.
function rows(widgetName, entries) {
  const body = widget(widgetName).querySelector("tbody");
  body.replaceChildren(
    ...entries.map(([key, ...cells]) => {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      tr.append(...cells);
      return tr;
    }),
  );
}

function renderHealth(health) {
  badge("overall", health.status);
  rows("health", health.components.map((c) => [c.name, cell(c.name), cell(pill(c.status)), cell(c.detail)]));
}

function renderTraffic(traffic) {
  show("traffic-total", traffic.totalRequests);
  rows(
    "traffic",
    Object.entries(traffic.byProvider).map(([name, share]) => [
      name, cell(name), cell(share.requests, "requests"), cell(share.percent, "percent"), cell(bar(share.percent)),
    ]),
  );
  const routes = Object.entries(traffic.byRoute).map(([name, share]) => `${name} ${share.percent ?? "-"} %`);
  show("routes", routes.length ? `by route: ${routes.join(", ")}` : "no traffic in the window");
}

function renderLatency(latency) {
  show("p50", latency.overall.p50Ms);
  show("p95", latency.overall.p95Ms);
  show("p99", latency.overall.p99Ms);
  rows(
    "latency",
    Object.entries(latency.providers).map(([name, l]) => [
      name, cell(name), cell(l.p50Ms, "p50"), cell(l.p95Ms, "p95"), cell(l.p99Ms, "p99"),
    ]),
  );
}

function renderErrors(errors) {
  show("error-rate", errors.overall.errorRatePercent);
  show("errors", errors.overall.errors);
  show("error-requests", errors.overall.requests);
  show("error-target", errors.thresholds.errorRateTargetPercent);
  const codes = Object.entries(errors.overall.byCode).map(([code, n]) => {
    const li = document.createElement("li");
    li.textContent = `${code}: ${n}`;
    return li;
  });
  field("error-codes").replaceChildren(...codes);
}

function renderCache(cache) {
  show("cache-hit-rate", cache.hitRatePercent);
  show("cache-hits", cache.hits);
  show("cache-misses", cache.misses);
  badge("cache-status", cache.status);
}

function renderBreakers(breakers) {
  show("breakers-enabled", breakers.enabled ? "enabled" : "DISABLED");
  rows(
    "breakers",
    Object.entries(breakers.breakers).map(([name, b]) => [name, cell(name), cell(pill(b.state), "state"), cell(b.reason)]),
  );
}

function renderRollout(rollout) {
  const lock = rollout.lock;
  if (lock) {
    const step = lock.step < 0 ? "no step yet" : `step ${lock.step + 1} (index ${lock.step})`;
    const sources = lock.sources.join(", ") || "-";
    const abort = lock.abortRequested ? ", abort requested" : "";
    show("rollout-summary", `${lock.kind} ${sources} -> ${lock.target}: ${lock.phase}, ${step}${abort}`);
  } else {
    show("rollout-summary", "no rollout running");
  }
  rows(
    "rollout",
    Object.entries(rollout.weights).map(([name, weight]) => [name, cell(name), cell(weight, "weight"), cell(bar(weight))]),
  );
}

function renderAlarms(alarms) {
  badge("alarm-count", alarms.count);
  field("alarm-count").className = `badge ${alarms.count ? "alarm" : "ok"}`;
  const items = alarms.alerts.map((a) => {
    const li = document.createElement("li");
    li.dataset.key = a.name;
    li.textContent = `${a.name}${a.reason ? `: ${a.reason}` : ""}${a.since ? ` (since ${a.since})` : ""}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.textContent = "none";
    items.push(li);
  }
  field("alarm-list").replaceChildren(...items);
}

function renderBudget(budget) {
  show("budget-utilization", budget.utilizationPercent ?? budget.spendUtilizationPercent);
  badge("budget-status", budget.level ?? budget.status);
  show("budget-warn", budget.warnPercent);
  show("budget-refuse", budget.refusePercent);
  show("budget-spent", budget.spentUsd);
  show("budget-monthly", budget.monthlyBudgetUsd === null ? "no budget set" : `${budget.monthlyBudgetUsd} USD`);
  show("window-cost", budget.windowCostUsd);
}

function render(data) {
  renderHealth(data.health);
  renderTraffic(data.traffic);
  renderLatency(data.latency);
  renderErrors(data.errors);
  renderCache(data.cache);
  renderBreakers(data.breakers);
  renderRollout(data.rollout);
  renderAlarms(data.alarms);
  renderBudget(data.budget);
  show("window", data.window);
  show("updated", data.generatedAt);
  document.body.dataset.generatedAt = data.generatedAt;
}

async function refresh() {
  try {
    const response = await fetch(dataUrl, { cache: "no-store", headers: { "X-Hybrid-Local": "1" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    render(body);
    field("error").hidden = true;
  } catch (error) {
    show("error", `could not refresh: ${error.message}`);
    field("error").hidden = false;
  }
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes) + 1);
  window.setTimeout(refresh, refreshSeconds * 1000);
}

refresh();
