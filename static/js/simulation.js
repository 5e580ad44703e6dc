// Simulation controller: follows runs' progress over the WebSocket /ws/
// (docs/api.md "WebSocket /ws/": ?client=<code>, a subscribe frame per run
// channel simulation.run_<id>), and falls back to HTMX polling of the run's
// panel every 2 s whenever that socket is not open and subscribed (the
// panel's hx-trigger asks AE.simulation.shouldPoll(id)).
//
// Its own socket rather than AE.live: it needs to know when a subscription
// is confirmed (to re-read the run's state then: events are ephemeral, so one
// pushed before the subscription would be missed) and when the socket drops
// (to turn polling on).
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});
  var TERMINAL = { succeeded: true, failed: true };
  var STATUS_LABEL = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  var STATUS_TEXT = {
    queued: "Queued: waiting for a worker", running: "Generating rows",
    succeeded: "Finished", failed: "Failed"
  };

  var socket = null;
  var open = false;
  var retryMs = 1000;
  var subscribed = {}; // channel -> true once the server confirmed it
  var wanted = {};     // channel -> run id, the runs a page shows and follows
  var loadedAt = Date.now();

  function panelFor(runId) {
    return document.querySelector('[data-run-panel][data-run-id="' + runId + '"]');
  }

  function clientCode() {
    var panel = document.querySelector("[data-run-panel][data-client]");
    return (document.body && document.body.dataset.client) || (panel && panel.dataset.client) || "";
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

  function send(frame) {
    if (socket && open) socket.send(JSON.stringify(frame));
  }

  function unsubscribe(channel) {
    if (!wanted[channel]) return;
    send({ action: "unsubscribe", channel: channel });
    delete subscribed[channel];
    setLive(channel, false);
    delete wanted[channel];
  }

  function connect() {
    if (socket || !("WebSocket" in window)) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/?client=" + encodeURIComponent(clientCode()));
    socket.onopen = function () { open = true; retryMs = 1000; };
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        Object.keys(wanted).forEach(function (channel) { send({ action: "subscribe", channel: channel }); });
      } else if (frame.type === "subscribed" && wanted[frame.channel]) {
        subscribed[frame.channel] = true;
        setLive(frame.channel, true);
        refreshPanel(wanted[frame.channel]); // catch up on what happened before the subscription
      } else if (frame.channel && frame.event) {
        onEvent(frame.event);
      }
    };
    socket.onclose = function () {
      socket = null;
      open = false;
      Object.keys(subscribed).forEach(function (channel) { setLive(channel, false); });
      subscribed = {};
      if (Object.keys(wanted).length) {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
  }

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
      setLive(channel, !!subscribed[channel]);
      if (wanted[channel]) return;
      wanted[channel] = panel.dataset.runId;
      if (open) send({ action: "subscribe", channel: channel });
      else connect();
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
    shouldPoll: function (runId) {
      return !(open && subscribed["simulation.run_" + runId]);
    },
    isLive: function (runId) { return open && !!subscribed["simulation.run_" + runId]; }
  };

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
