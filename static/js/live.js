// The console's live client: one WebSocket to /ws/ per page (contract in
// docs/api.md, "WebSocket /ws/"), shared by every region that wants events.
//
//   AE.live.subscribe("metric.retention_rate", function (event, frame) { ... });
//   AE.live.unsubscribe("metric.retention_rate", callback);   // or every callback of it
//
// It signs in with the session cookie and acts for the client of
// <body data-client>. After a drop it reconnects with a growing backoff
// (1 s, 2 s, 4 s ... 30 s, with jitter) and subscribes again to every channel
// that still has callbacks. Heartbeats need no answer; a socket silent for
// three heartbeat periods is taken for dead and replaced. The connection state
// is on <body data-live="connecting|open|closed"> and in the layout's
// indicator ([data-live-status]); error frames are logged to the console.
//
// Whether a channel's events reach the page changes when the server confirms
// a subscription and when the socket drops: each change is announced as the
// DOM event "ae:live-subscription" on document, detail {channel, subscribed}.
// Events are ephemeral, so a page that must not miss a state (a run's end)
// re-reads it on {subscribed: true} and polls while it is false.
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});
  var listeners = {}; // channel -> array of callbacks
  var confirmed = {}; // channels the server acknowledged on the current socket
  // Row policies (docs/access.md): a restricted user is refused "metric.<code>" and told their own
  // channel "metric.<code>.r<fingerprint>"; its events go to the callbacks of the channel asked for.
  var aliases = {}; // restricted channel -> the channel the page subscribed to
  var socket = null;
  var attempts = 0;
  var reconnectTimer = null;
  var watchdog = null;
  var heartbeatSeconds = 20;
  var stopped = false;
  var TEXT = { connecting: "Connecting…", open: "Live", closed: "Offline, retrying…" };

  function setState(state) {
    document.body.setAttribute("data-live", state);
    document.querySelectorAll("[data-live-status]").forEach(function (box) {
      var text = box.querySelector(".live-text");
      if (text) text.textContent = TEXT[state] || state;
      box.title = state === "open" ? "Live updates are on" : "Live updates: " + (TEXT[state] || state);
    });
    AE.live.state = state;
    document.dispatchEvent(new CustomEvent("ae:live", { detail: { state: state } }));
  }

  function url() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var client = document.body.getAttribute("data-client") || "";
    return scheme + "//" + location.host + "/ws/?client=" + encodeURIComponent(client);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function touch() {
    AE.live.lastMessageAt = Date.now();
  }

  function watch() {
    clearInterval(watchdog);
    watchdog = setInterval(function () {
      if (socket && socket.readyState === WebSocket.OPEN &&
          Date.now() - AE.live.lastMessageAt > heartbeatSeconds * 3000) {
        console.warn("[live] no heartbeat for " + 3 * heartbeatSeconds + " s; reconnecting");
        socket.close();
      }
    }, 5000);
  }

  function announce(channel, subscribed) {
    document.dispatchEvent(new CustomEvent("ae:live-subscription", { detail: { channel: channel, subscribed: subscribed } }));
  }

  function dispatch(frame) {
    var callbacks = listeners[frame.channel] || listeners[aliases[frame.channel]];
    if (!callbacks) return;
    callbacks.slice().forEach(function (callback) {
      try { callback(frame.event, frame); } catch (err) { console.error("[live] callback for " + frame.channel + " failed", err); }
    });
  }

  function onMessage(message) {
    touch();
    var frame;
    try { frame = JSON.parse(message.data); } catch (err) { console.error("[live] not JSON", message.data); return; }
    if (frame.type === "welcome") {
      heartbeatSeconds = frame.heartbeat || heartbeatSeconds;
      return;
    }
    if (frame.type === "heartbeat") { AE.live.lastHeartbeat = frame.ts; return; }
    if (frame.type === "error") {
      var details = (frame.error && frame.error.details) || {};
      if (frame.error && frame.error.code === "row_policy_restricted" && details.restricted_channel && listeners[details.channel]) {
        aliases[details.restricted_channel] = details.channel;
        send({ action: "subscribe", channel: details.restricted_channel });
        return;
      }
      console.error("[live] " + (frame.error && frame.error.code), frame.error);
      return;
    }
    if (frame.type === "subscribed") {
      var asked = aliases[frame.channel] || frame.channel;
      confirmed[asked] = true;
      announce(asked, true);
      return;
    }
    if (frame.type === "unsubscribed") { delete confirmed[frame.channel]; announce(frame.channel, false); return; }
    if (frame.type === "pong") return;
    if (frame.channel && "event" in frame) dispatch(frame);
  }

  function connect() {
    if (stopped || !document.body.getAttribute("data-client")) return;
    clearTimeout(reconnectTimer);
    setState("connecting");
    var ws = new WebSocket(url());
    socket = ws;
    ws.onopen = function () {
      attempts = 0;
      touch();
      setState("open");
      Object.keys(listeners).forEach(function (channel) { send({ action: "subscribe", channel: channel }); });
      watch();
    };
    ws.onmessage = onMessage;
    ws.onclose = function (e) {
      if (socket !== ws) return;
      socket = null;
      var lost = Object.keys(confirmed);
      confirmed = {};
      lost.forEach(function (channel) { announce(channel, false); });
      clearInterval(watchdog);
      setState("closed");
      if (e.code === 4401) { // signed out (session ended): a reload leads to the login page
        console.warn("[live] the server refused the socket: not signed in");
        return;
      }
      reconnectLater();
    };
    ws.onerror = function () { /* onclose follows and reconnects */ };
  }

  function reconnectLater() {
    if (stopped) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.8 + Math.random() * 0.4);
    attempts += 1;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  AE.live = {
    state: "connecting",
    lastMessageAt: 0,
    lastHeartbeat: null,
    subscribe: function (channel, callback) {
      var first = !listeners[channel];
      (listeners[channel] = listeners[channel] || []).push(callback);
      if (first) send({ action: "subscribe", channel: channel });
      return callback;
    },
    unsubscribe: function (channel, callback) {
      var callbacks = listeners[channel];
      if (!callbacks) return;
      listeners[channel] = callback ? callbacks.filter(function (c) { return c !== callback; }) : [];
      if (!listeners[channel].length) {
        delete listeners[channel];
        delete confirmed[channel];
        send({ action: "unsubscribe", channel: channel });
        Object.keys(aliases).forEach(function (restricted) {
          if (aliases[restricted] !== channel) return;
          delete aliases[restricted];
          send({ action: "unsubscribe", channel: restricted });
        });
      }
    },
    channels: function () { return Object.keys(listeners); },
    // Whether the server acknowledged the subscription (events of it reach this page).
    isSubscribed: function (channel) { return !!confirmed[channel]; },
    reconnect: function () { if (socket) socket.close(); else connect(); }
  };

  window.addEventListener("online", function () { if (!socket) { attempts = 0; connect(); } });
  window.addEventListener("pagehide", function () { stopped = true; if (socket) socket.close(1000); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { stopped = false; attempts = 0; connect(); } });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
