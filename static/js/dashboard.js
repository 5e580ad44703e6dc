// The dashboard's live parts:
// - KPI widgets: each subscribes to its metric's channel (AE.live, live.js) and
//   redraws value, delta and sparkline when a new daily value of the whole
//   metric is calculated, without a reload;
// - the KPI trend chart: ECharts (vendored) draws the series the trend partial
//   carries as JSON (#trend-data), in the colours of the current theme;
// - the trend form submits itself when a choice changes.
(function () {
  "use strict";
  var SPARK_POINTS = 30, SPARK_WIDTH = 120, SPARK_HEIGHT = 32;
  var widgetCallbacks = {}; // channel -> callback, to unsubscribe when the widgets are swapped again
  var chart = null;
  var trend = null;

  // --- formatting (mirrors apps/web/views_dashboard.py) ----------------------------
  function group(value, digits) {
    return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function valueFormat(value, unit) {
    if (value === null || value === undefined) return "—";
    if (unit === "ratio") return group(value * 100, 1) + " %";
    if (unit === "%" || unit === "percent") return group(value, 1) + " %";
    var text = Math.abs(value) >= 1000 || Number.isInteger(value) ? group(value, 0) : group(value, 2);
    return unit && unit.length <= 8 && unit !== "count" ? text + " " + unit : text;
  }
  function sparkPoints(values) {
    var numbers = values.filter(function (v) { return v !== null && v !== undefined; });
    if (numbers.length < 2) return "";
    var low = Math.min.apply(null, numbers), high = Math.max.apply(null, numbers);
    var span = (high - low) || 1, step = SPARK_WIDTH / (values.length - 1), out = [];
    values.forEach(function (v, i) {
      if (v === null || v === undefined) return;
      out.push((i * step).toFixed(1) + "," + (SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4)).toFixed(1));
    });
    return out.join(" ");
  }
  function dayLabel(iso) {
    var d = new Date(iso);
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }

  function dayShort(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  }
  function axisFormat(value, unit) {
    if (unit === "ratio") return group(value * 100, 0) + " %";
    return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(value);
  }

  // --- live KPI widgets ------------------------------------------------------------
  function widgetRender(box, widget) {
    var points = widget.points, latest = points[points.length - 1], before = points[points.length - 2];
    box.querySelector("[data-kpi-value]").textContent = valueFormat(latest ? latest.value : null, widget.unit);
    var delta = box.querySelector("[data-kpi-delta]");
    delta.className = "widget-delta none";
    if (latest && before && latest.value !== null && before.value !== null) {
      var change = latest.value - before.value;
      var direction = change > 0 ? "up" : change < 0 ? "down" : "flat";
      var text = before.value ? (change >= 0 ? "+" : "") + group(change / Math.abs(before.value) * 100, 1) + " %"
                              : (change > 0 ? "+" : "") + valueFormat(change, widget.unit);
      delta.className = "widget-delta " + direction;
      delta.innerHTML = '<span class="arrow" aria-hidden="true"></span> <span class="delta-text"></span> <span class="muted">vs previous day</span>';
      delta.querySelector(".arrow").textContent = direction === "up" ? "▲" : direction === "down" ? "▼" : "■";
      delta.querySelector(".delta-text").textContent = text;
    }
    box.querySelector("[data-kpi-spark]").setAttribute("points", sparkPoints(points.map(function (p) { return p.value; })));
    var asof = box.querySelector("[data-kpi-asof]");
    if (latest && asof) { asof.textContent = dayLabel(latest.bucket); asof.setAttribute("datetime", latest.bucket.slice(0, 10)); }
  }

  function pointAdd(widget, event) {
    var bucket = new Date(event.bucket).toISOString();
    var found = widget.points.find(function (p) { return new Date(p.bucket).toISOString() === bucket; });
    if (found) found.value = event.value;
    else {
      widget.points.push({ bucket: event.bucket, value: event.value });
      widget.points.sort(function (a, b) { return new Date(a.bucket) - new Date(b.bucket); });
      if (widget.points.length > SPARK_POINTS) widget.points = widget.points.slice(-SPARK_POINTS);
    }
  }

  function widgetsStart(root) {
    var data = root.querySelector("#kpi-widget-data");
    Object.keys(widgetCallbacks).forEach(function (channel) { AE.live.unsubscribe(channel, widgetCallbacks[channel]); });
    widgetCallbacks = {};
    if (!data || !window.AE || !AE.live) return;
    JSON.parse(data.textContent).forEach(function (widget) {
      var box = root.querySelector('[data-kpi="' + widget.code + '"]');
      if (!box) return;
      var channel = "metric." + widget.code;
      widgetCallbacks[channel] = AE.live.subscribe(channel, function (event) {
        // Deactivated in the client's configuration (docs/client-config.md): the widget leaves the page.
        if (event && event.status === "deactivated") {
          AE.live.unsubscribe(channel, widgetCallbacks[channel]);
          delete widgetCallbacks[channel];
          box.remove();
          return;
        }
        // The widget shows the metric as a whole, by day: other breakdowns are for charts.
        if (!event || !event.bucket || (event.granularity && event.granularity !== "day")) return;
        if (event.dims && Object.keys(event.dims).length) return;
        pointAdd(widget, event);
        widgetRender(box, widget);
        box.classList.remove("updated");
        void box.offsetWidth; // restart the highlight
        box.classList.add("updated");
        box.setAttribute("data-updated-at", String(Date.now()));
      });
    });
  }

  // --- KPI trend chart -----------------------------------------------------------------
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function chartDraw() {
    var box = document.getElementById("trend-chart");
    if (chart) { chart.dispose(); chart = null; }
    if (!box || !trend || !window.echarts) return;
    var fg = cssVar("--fg"), muted = cssVar("--muted"), border = cssVar("--border");
    var palette = [cssVar("--accent"), "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#d6336c", "#5c7cfa", "#74b816", "#868e96"];
    chart = echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      color: palette,
      animation: false,
      grid: { left: 8, right: 28, top: trend.series.length > 1 ? 40 : 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return valueFormat(v, trend.unit); } },
      legend: trend.series.length > 1 ? { type: "scroll", top: 0, textStyle: { color: fg } } : undefined,
      xAxis: { type: "category", data: trend.buckets, boundaryGap: false,
               axisLine: { lineStyle: { color: border } },
               axisLabel: { color: muted, hideOverlap: true, formatter: function (d) { return dayShort(d); } } },
      yAxis: { type: "value", scale: true, splitLine: { lineStyle: { color: border } },
               minInterval: trend.unit === "ratio" ? 0 : 1,
               axisLabel: { color: muted, formatter: function (v) { return axisFormat(v, trend.unit); } } },
      series: trend.series.map(function (s) {
        return { name: s.name, type: "line", data: s.values, showSymbol: trend.buckets.length <= 31, connectNulls: false,
                 smooth: false, lineStyle: { width: 2 }, areaStyle: trend.series.length === 1 ? { opacity: 0.08 } : undefined };
      })
    });
  }

  function trendStart(root) {
    var data = root.querySelector("#trend-data");
    trend = data ? JSON.parse(data.textContent) : null;
    chartDraw();
  }

  function trendLive(event) {
    if (!trend || !event || event.metric !== trend.metric) return;
    if (event.status === "deactivated") {
      // The charted KPI was deactivated (docs/client-config.md): chart the default of the active ones.
      var region = document.getElementById("trend-region");
      if (region && window.htmx) htmx.ajax("GET", region.getAttribute("hx-get").split("?")[0], { target: region, swap: "innerHTML" });
      return;
    }
    // A new daily value of the charted metric as a whole: update the day in place.
    if (trend.group_by) return;
    if (event.dims && Object.keys(event.dims).length) return;
    var day = String(event.bucket).slice(0, 10), i = trend.buckets.indexOf(day);
    if (i >= 0 && trend.series[0]) { trend.series[0].values[i] = event.value; chartDraw(); }
  }
  var trendChannel = null;
  function trendFollow() {
    if (!window.AE || !AE.live) return;
    var channel = trend ? "metric." + trend.metric : null;
    if (channel === trendChannel) return;
    if (trendChannel) AE.live.unsubscribe(trendChannel, trendLive);
    trendChannel = channel;
    if (channel) AE.live.subscribe(channel, trendLive);
  }

  // --- wiring -----------------------------------------------------------------------------
  document.addEventListener("htmx:afterSettle", function (e) {
    var target = e.detail.target;
    if (!target || !target.id) return;
    if (target.id === "kpi-widgets") { target.removeAttribute("aria-busy"); widgetsStart(target); }
    if (target.id === "trend-region") { trendStart(target); trendFollow(); }
  });
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest("[data-trend-form]");
    if (!form) return;
    if (e.target.matches("[data-trend-metric]")) {
      var groupBy = form.querySelector("#trend-group-by");
      if (groupBy) groupBy.value = ""; // the new metric may not have that attribute
    }
    if (e.target.matches("[data-trend-metric], [data-autosubmit]")) form.requestSubmit();
  });
  document.addEventListener("ae:themechange", chartDraw);
  window.addEventListener("resize", function () { if (chart) chart.resize(); });

  window.AE = window.AE || {};
  AE.dashboard = { valueFormat: valueFormat, sparkPoints: sparkPoints };
})();
