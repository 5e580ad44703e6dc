// KPI configuration and KPI details (apps/web/views_kpis.py, views_kpi_detail.py):
// - charts: every [data-chart] followed by a <script type="application/json">
//   (Django's json_script: {kind: "line"|"bar", name, unit, labels, values}) is drawn with the vendored
//   ECharts, in the theme's colours, again after each HTMX swap and theme change;
// - the resizable split between the KPI tree and the details: drag the
//   separator or focus it and use the arrow keys (Home/End for the limits);
//   the width is remembered in localStorage;
// - tablists: arrow keys move between tabs (WAI-ARIA tabs pattern);
// - the "derive a custom KPI" <dialog>: open (prefilled from the button's
//   data-derive-formula), close, and after a KPI is created (the kpiDerived
//   event the server triggers) close it and open the new KPI's preview.
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});
  var WIDTH_KEY = "ae-kpis-nav-width";
  var MIN = 16, MAX = 60, STEP = 2, DEFAULT = 32;

  // --- charts -------------------------------------------------------------------
  function cssVar(name, fallback) {
    var value = getComputedStyle(document.body).getPropertyValue(name).trim();
    return value || fallback;
  }
  function formatNumber(value) {
    if (value === null || value === undefined) return "—";
    return Math.abs(value) >= 1000 ? value.toLocaleString(undefined, { maximumFractionDigits: 0 })
      : value.toLocaleString(undefined, { maximumFractionDigits: 3 });
  }
  function chartOption(data, sparkline) {
    var fg = cssVar("--fg", "#1b1f24"), muted = cssVar("--muted", "#57606a");
    var border = cssVar("--border", "#d0d7de"), accent = cssVar("--accent", "#0b5fff");
    var isBar = data.kind === "bar";
    var axisLabel = { color: muted };
    return {
      animation: false,
      color: [accent],
      textStyle: { color: fg },
      grid: sparkline ? { left: 2, right: 2, top: 4, bottom: 2 } : { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      tooltip: sparkline ? { show: false } : {
        trigger: "axis", valueFormatter: function (v) { return formatNumber(v) + (data.unit ? " " + data.unit : ""); },
        backgroundColor: cssVar("--card", "#fff"), borderColor: border, textStyle: { color: fg },
      },
      xAxis: {
        type: "category", data: data.labels, show: !sparkline, boundaryGap: isBar,
        axisLine: { lineStyle: { color: border } },
        axisLabel: isBar ? axisLabel : Object.assign({ formatter: function (v) { return v.slice(5); } }, axisLabel),
      },
      yAxis: {
        type: "value", show: !sparkline, scale: sparkline, name: sparkline ? "" : (data.unit || ""), nameTextStyle: { color: muted },
        axisLabel: Object.assign({ formatter: formatNumber }, axisLabel), splitLine: { lineStyle: { color: border, opacity: 0.6 } },
      },
      series: [isBar ? {
        type: "bar", name: data.name, data: data.values, barMaxWidth: 48, itemStyle: { borderRadius: [4, 4, 0, 0] },
      } : {
        type: "line", name: data.name, data: data.values, connectNulls: false, smooth: false,
        showSymbol: !sparkline, symbolSize: 5, lineStyle: { width: 2 }, areaStyle: { opacity: sparkline ? 0.15 : 0.08, origin: "start" },
      }],
    };
  }
  function drawCharts(root) {
    if (!window.echarts) return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var source = el.nextElementSibling;
      if (!source || source.type !== "application/json") return;
      var data;
      try { data = JSON.parse(source.textContent); } catch (err) { return; }
      if (!data || !data.labels) return;
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
      chart.setOption(chartOption(data, el.hasAttribute("data-sparkline")), true);
      el.setAttribute("data-chart-ready", "true");
    });
  }
  function resizeCharts() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    // Charts about to be replaced free their canvases.
    if (!window.echarts || !e.detail.target) return;
    e.detail.target.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.dispose();
    });
  });
  document.addEventListener("htmx:afterSettle", function (e) { drawCharts(e.detail.target); });

  // The tree's requests (regroup, search) carry the KPI shown in the preview, so
  // it stays selected: a listener rather than hx-vals="js:...", which htmx would
  // have to eval and the Content-Security-Policy forbids.
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-keep-selected")) e.detail.parameters.metric = AE.kpis.selected();
  });
  document.addEventListener("ae:themechange", function () { drawCharts(document); });
  window.addEventListener("resize", resizeCharts);

  // --- the split between tree and details -------------------------------------------
  function clamp(value) { return Math.min(MAX, Math.max(MIN, value)); }
  function widthSet(split, separator, value, remember) {
    value = clamp(Math.round(value));
    split.style.setProperty("--kpi-nav-width", value + "%");
    separator.setAttribute("aria-valuenow", String(value));
    separator.setAttribute("aria-valuetext", value + "% of the width");
    if (remember) { try { localStorage.setItem(WIDTH_KEY, String(value)); } catch (err) { /* private mode */ } }
    resizeCharts();
  }
  function splitterSetup() {
    var split = document.querySelector("[data-kpi-split]");
    var separator = split && split.querySelector("[data-kpi-splitter]");
    if (!separator) return;
    var stored = DEFAULT;
    try { stored = parseFloat(localStorage.getItem(WIDTH_KEY)) || DEFAULT; } catch (err) { /* private mode */ }
    widthSet(split, separator, stored, false);
    separator.addEventListener("keydown", function (e) {
      var now = parseFloat(separator.getAttribute("aria-valuenow")) || DEFAULT;
      var next = { ArrowLeft: now - STEP, ArrowDown: now - STEP, ArrowRight: now + STEP, ArrowUp: now + STEP, Home: MIN, End: MAX }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      widthSet(split, separator, next, true);
    });
    separator.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      separator.setPointerCapture(e.pointerId);
      split.classList.add("resizing");
      var box = split.getBoundingClientRect();
      function move(ev) { widthSet(split, separator, ((ev.clientX - box.left) / box.width) * 100, false); }
      function up(ev) {
        move(ev);
        widthSet(split, separator, parseFloat(separator.getAttribute("aria-valuenow")), true);
        split.classList.remove("resizing");
        separator.removeEventListener("pointermove", move);
        separator.removeEventListener("pointerup", up);
      }
      separator.addEventListener("pointermove", move);
      separator.addEventListener("pointerup", up);
    });
  }

  // --- tabs: arrow keys; the details tabs mark the one shown ---------------------------
  document.addEventListener("keydown", function (e) {
    var tab = e.target.closest && e.target.closest('[role="tab"]');
    if (!tab) return;
    var tabs = Array.prototype.slice.call(tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]'));
    var index = tabs.indexOf(tab);
    var next = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    var target = tabs[(next + tabs.length) % tabs.length];
    target.focus();
    target.click();
  });
  function tabSelect(tab) {
    var list = tab.closest('[role="tablist"]');
    list.querySelectorAll('[role="tab"]').forEach(function (other) {
      var on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.setAttribute("tabindex", on ? "0" : "-1");
    });
    var panel = document.getElementById(tab.getAttribute("aria-controls"));
    if (panel && tab.id) panel.setAttribute("aria-labelledby", tab.id);
  }
  document.addEventListener("click", function (e) {
    var tab = e.target.closest && e.target.closest('.detail-tabs [role="tab"]');
    if (tab) tabSelect(tab);
    var item = e.target.closest && e.target.closest("[data-kpi]");
    if (item) {
      document.querySelectorAll("[data-kpi].selected").forEach(function (el) { el.classList.remove("selected"); el.removeAttribute("aria-current"); });
      item.classList.add("selected");
      item.setAttribute("aria-current", "true");
    }
  });
  window.addEventListener("popstate", function () {
    var wanted = new URLSearchParams(location.search).get("tab");
    var tab = wanted && document.getElementById("tab-" + wanted);
    if (tab) { tabSelect(tab); tab.click(); }
  });

  // --- the derive dialog -------------------------------------------------------------------
  function dialog() { return document.getElementById("derive-dialog"); }
  document.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest("[data-derive-open]");
    if (opener && dialog()) {
      var formula = opener.getAttribute("data-derive-formula");
      var field = document.getElementById("derive-formula");
      if (formula && field && !field.value) {
        field.value = formula + " ";
        htmx.trigger(field, "input");
      }
      dialog().showModal();
      var name = document.getElementById("derive-name");
      if (name) name.focus();
      return;
    }
    if (e.target.closest && e.target.closest("[data-derive-close]") && dialog()) dialog().close();
  });
  document.body.addEventListener("kpiDerived", function (e) {
    var code = e.detail && e.detail.code;
    var box = dialog();
    if (box) {
      box.close();
      var form = document.getElementById("derive-form");
      if (form) form.reset();
      var feedback = document.getElementById("formula-feedback");
      if (feedback) feedback.innerHTML = "";
    }
    var preview = document.getElementById("kpi-preview");
    if (code && preview) {
      var url = preview.getAttribute("data-preview-url").replace("__code__", encodeURIComponent(code));
      htmx.ajax("GET", url, { target: "#kpi-preview", swap: "innerHTML" });
      var params = new URLSearchParams(location.search);
      params.set("metric", code);
      history.pushState({}, "", location.pathname + "?" + params.toString());
      if (AE.toast) AE.toast("KPI " + (e.detail.name || code) + " created.", "success");
    }
  });

  AE.kpis = {
    selected: function () {
      // The KPI shown in the preview stays selected while a search hides it.
      var item = document.querySelector("[data-kpi].selected") || document.querySelector("#kpi-preview [data-preview]");
      return item ? (item.getAttribute("data-kpi") || item.getAttribute("data-preview")) : "";
    },
    drawCharts: drawCharts,
  };

  function start() { splitterSetup(); drawCharts(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
