// The Data Source page (apps/web/templates/web/sources): schedule presets
// fill the cron field (which HTMX checks), the preview's row limit re-reads
// the last object previewed, and a job's run history follows an active run
// on the console's live socket (AE.live, static/js/live.js: channel
// ingestion.<job code>), polling its partial every 2 s only while the
// channel is not confirmed (a listener, not an hx-trigger filter: the
// Content-Security-Policy forbids htmx's eval).
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});
  var TERMINAL = { succeeded: true, failed: true };
  var followed = {}; // channel -> true
  var lastPreview = null; // the "Preview rows" button last used

  function live() { return window.AE && window.AE.live; }
  function subscribed(channel) { return !!(live() && live().isSubscribed(channel)); }
  function runsBox() { return document.querySelector("[data-job-runs]"); }

  function refreshRuns() {
    var box = runsBox();
    if (box && window.htmx) window.htmx.ajax("GET", box.dataset.url, { target: "#runs", swap: "innerHTML" });
  }

  function setLive(on) {
    var badge = document.querySelector("[data-job-runs] [data-live-indicator]");
    if (badge) badge.hidden = !on;
  }

  // A progress event of the job's run: update its row in place; at the end,
  // re-read the history (status, duration, watermark, error).
  function onEvent(event) {
    if (!event || event.run === undefined) return;
    var row = document.querySelector('[data-job-runs] tr[data-run-id="' + event.run + '"]');
    if (!row) { refreshRuns(); return; }
    row.dataset.status = event.status;
    var status = row.querySelector("[data-run-status]");
    if (status) { status.textContent = event.status; status.className = "pill status-" + event.status; }
    [["rows_read", "[data-rows-read]"], ["rows_written", "[data-rows-written]"], ["rows_rejected", "[data-rows-rejected]"]]
      .forEach(function (pair) {
        var cell = row.querySelector(pair[1]);
        if (cell && event[pair[0]] !== undefined) { cell.textContent = String(event[pair[0]]); cell.dataset.updatedBy = "websocket"; }
      });
    if (TERMINAL[event.status]) refreshRuns();
  }

  function follow() {
    var box = runsBox();
    if (!box || !live()) return;
    var channel = box.dataset.channel;
    if (box.dataset.active === "true") {
      setLive(subscribed(channel));
      if (!followed[channel]) { followed[channel] = true; live().subscribe(channel, onEvent); }
    } else if (followed[channel]) {
      live().unsubscribe(channel, onEvent);
      delete followed[channel];
    }
  }

  document.addEventListener("ae:live-subscription", function (e) {
    if (!followed[e.detail.channel]) return;
    setLive(e.detail.subscribed);
    if (e.detail.subscribed) refreshRuns(); // events are ephemeral: catch up on what came before
  });

  // The runs' own poll is skipped while the socket follows the job.
  document.addEventListener("htmx:confirm", function (e) {
    var box = e.detail.elt;
    if (!box || !box.matches || !box.matches("[data-job-runs][data-poll-unless-live]")) return;
    if (subscribed(box.dataset.channel)) e.preventDefault();
  });

  document.addEventListener("click", function (e) {
    var preset = e.target.closest && e.target.closest("[data-schedule-preset]");
    if (preset) {
      var input = document.querySelector("[data-schedule-input]");
      if (input) {
        input.value = preset.dataset.schedulePreset;
        if (window.htmx) window.htmx.trigger(input, "schedule-preset");
        input.focus();
      }
      return;
    }
    var previewButton = e.target.closest && e.target.closest("[data-preview-object]");
    if (previewButton) lastPreview = previewButton;
  });

  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "preview-limit" && lastPreview && document.body.contains(lastPreview)) {
      window.htmx.trigger(lastPreview, "click");
    }
  });

  document.addEventListener("htmx:load", follow);
  document.addEventListener("DOMContentLoaded", follow);
  AE.sources = { isLive: function () { var b = runsBox(); return !!(b && subscribed(b.dataset.channel)); } };
})();
