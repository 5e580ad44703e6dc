// Simulation controller: follows runs' progress on the console's live socket
// (AE.live, static/js/live.js: channel simulation.run_<id>), and falls back
// to HTMX polling of the run's panel every 2 s whenever that channel is not
// confirmed (a panel marked data-poll-unless-live drops its poll while the
// socket follows the run: a listener, not an hx-trigger filter, which htmx
// would have to eval and the Content-Security-Policy forbids).
// When the server confirms a subscription the panel is re-read: events are
// ephemeral, so one pushed before the subscription would be missed.
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});
  var TERMINAL = { succeeded: true, failed: true };
  var STATUS_LABEL = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  var STATUS_TEXT = {
    queued: "Queued: waiting for a worker", running: "Generating rows",
    succeeded: "Finished", failed: "Failed"
  };

  var wanted = {};     // channel -> run id, the runs a page shows and follows
  var loadedAt = Date.now();

  function panelFor(runId) {
    return document.querySelector('[data-run-panel][data-run-id="' + runId + '"]');
  }

  function number(n) { return Number(n || 0).toLocaleString("en-US"); }

  function setLive(channel, live) {
    var panel = panelFor(wanted[channel]);
    var badge = panel && panel.querySelector("[data-live-indicator]");
    if (badge) badge.hidden = !live;
  }

  function refreshPanel(runId) {
    var panel = panelFor(runId);
    if (panel && window.htmx) {
      window.htmx.ajax("GET", panel.dataset.url, { target: panel, swap: "outerHTML" });
    }
  }

  // A progress event: update the bar, its text and the live region in place;
  // at the end, swap in the server's rendering (summary, dashboard link, error).
  function onEvent(event) {
    if (!event || event.type !== "simulation.run") return;
    var panel = panelFor(event.id);
    if (!panel) return;
    var percent = Math.round(Math.max(0, Math.min(event.progress || 0, 1)) * 100);
    if (event.status === "succeeded") percent = 100;
    var bar = panel.querySelector("[data-run-progress]");
    if (bar) {
      bar.value = percent;
      bar.setAttribute("aria-valuenow", String(percent));
      bar.textContent = percent + "%";
      bar.dataset.updatedBy = "websocket";
    }
    var pct = panel.querySelector("[data-run-percent]");
    if (pct) pct.textContent = percent + "%";
    var status = panel.querySelector("[data-run-status]");
    if (status) {
      status.textContent = STATUS_LABEL[event.status] || event.status;
      status.className = "badge status-" + event.status;
    }
    panel.dataset.status = event.status;
    var stale = panel.querySelector("[data-stale-note]");
    if (stale && event.status !== "queued") stale.hidden = true;
    var text = panel.querySelector("[data-run-text]");
    if (text) {
      text.textContent = (STATUS_TEXT[event.status] || event.status) + " · " + number(event.rows_written) +
        (event.rows_planned ? " of " + number(event.rows_planned) : "") + " rows written";
    }
    if (TERMINAL[event.status]) {
      unsubscribe("simulation.run_" + event.id);
      refreshPanel(event.id);
      document.body.dispatchEvent(new CustomEvent("sim-run-changed"));
    }
  }

  function live() { return window.AE && window.AE.live; }

  function subscribed(channel) { return !!(live() && live().isSubscribed(channel)); }

  function unsubscribe(channel) {
    if (!wanted[channel]) return;
    if (live()) live().unsubscribe(channel, onEvent);
    setLive(channel, false);
    delete wanted[channel];
  }

  // The live client says when a run's channel starts or stops reaching the page.
  document.addEventListener("ae:live-subscription", function (e) {
    var channel = e.detail.channel;
    if (!wanted[channel]) return;
    setLive(channel, e.detail.subscribed);
    if (e.detail.subscribed) refreshPanel(wanted[channel]); // catch up on what happened before
  });

  // Follow every active run panel in `root` (the page, or content HTMX swapped in).
  function follow(root) {
    var panels = root.querySelectorAll ? root.querySelectorAll("[data-run-panel]") : [];
    if (root.matches && root.matches("[data-run-panel]")) panels = [root];
    Array.prototype.forEach.call(panels, function (panel) {
      var channel = panel.dataset.channel;
      if (TERMINAL[panel.dataset.status]) {
        unsubscribe(channel);
        return;
      }
      panel.dataset.renderedAt = String(Date.now());
      setLive(channel, subscribed(channel));
      if (wanted[channel] || !live()) return;
      wanted[channel] = panel.dataset.runId;
      live().subscribe(channel, onEvent);
    });
  }

  // Queued for longer than the server's threshold: say the worker seems absent.
  function checkStale() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-run-panel][data-status="queued"]'), function (panel) {
      var note = panel.querySelector("[data-stale-note]");
      var since = Number(panel.dataset.renderedAt || loadedAt);
      var age = Number(panel.dataset.queuedAge || 0) + (Date.now() - since) / 1000;
      if (note && age >= Number(panel.dataset.staleAfter || 30)) note.hidden = false;
    });
  }

  AE.simulation = {
    // The panel's polling runs only while the socket is not following the run.
    shouldPoll: function (runId) { return !subscribed("simulation.run_" + runId); },
    isLive: function (runId) { return subscribed("simulation.run_" + runId); }
  };

  // The panel's own poll (its elt is the panel; htmx.ajax refreshes are not) is
  // skipped while the socket follows the run.
  document.addEventListener("htmx:confirm", function (e) {
    var panel = e.detail.elt;
    if (!panel || !panel.matches || !panel.matches("[data-run-panel][data-poll-unless-live]")) return;
    if (!AE.simulation.shouldPoll(panel.dataset.runId)) e.preventDefault();
  });

  // Invalid parameters answer 422 with the form and its inline errors: swap it in.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (e.detail.xhr.status === 422 && target && target.matches && target.matches("[data-sim-form]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  document.addEventListener("htmx:load", function (e) { follow(e.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () {
    follow(document);
    setInterval(checkStale, 2000);
  });
})();
