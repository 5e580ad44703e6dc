// The console's shared behaviour:
// - error states for HTMX regions: an element with data-error-target="<id>"
//   shows that element when a request fails, and hides it after a good swap;
// - regions marked data-swap-errors swap in 400/409/422 answers (forms with
//   inline errors) instead of treating them as failures;
// - the theme toggle (light/dark, remembered in localStorage; theme.js,
//   loaded first in base.html, applies it before the first paint);
// - the collapsible navigation on narrow screens;
// - toasts: Django messages, and AE.toast(text, kind) for page scripts.
(function () {
  "use strict";
  var AE = (window.AE = window.AE || {});

  // --- HTMX error states --------------------------------------------------------
  function errorBox(target) {
    var region = target && target.closest && target.closest("[data-error-target]");
    return region ? document.getElementById(region.dataset.errorTarget) : null;
  }
  function show(e) { var box = errorBox(e.detail.target || e.detail.elt); if (box) box.hidden = false; }
  document.addEventListener("htmx:responseError", show);
  document.addEventListener("htmx:sendError", show);
  document.addEventListener("htmx:afterSwap", function (e) {
    var box = errorBox(e.detail.target); if (box) box.hidden = true;
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    var target = e.detail.target;
    if ((status === 400 || status === 409 || status === 422) && target && target.closest && target.closest("[data-swap-errors]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // --- theme --------------------------------------------------------------------
  var THEME_KEY = "ae-theme";
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function currentTheme() {
    var chosen = document.documentElement.getAttribute("data-theme");
    if (chosen === "light" || chosen === "dark") return chosen;
    return darkQuery && darkQuery.matches ? "dark" : "light";
  }
  function labelToggles() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-label", "Switch to " + next + " theme");
      button.title = "Switch to " + next + " theme";
    });
  }
  function themeSet(theme) {
    document.documentElement.setAttribute("data-theme", theme);
    try { localStorage.setItem(THEME_KEY, theme); } catch (err) { /* private mode: this page only */ }
    labelToggles();
    document.dispatchEvent(new CustomEvent("ae:themechange", { detail: { theme: theme } }));
  }
  AE.theme = { current: currentTheme, set: themeSet };
  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener("change", function () {
      labelToggles();
      document.dispatchEvent(new CustomEvent("ae:themechange", { detail: { theme: currentTheme() } }));
    });
  }

  // --- toasts -------------------------------------------------------------------
  function dismissLater(toast) {
    setTimeout(function () { toast.classList.add("leaving"); setTimeout(function () { toast.remove(); }, 300); }, 6000);
  }
  AE.toast = function (text, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast " + (kind || "info");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    toast.textContent = text;
    var close = document.createElement("button");
    close.type = "button"; close.className = "toast-close"; close.setAttribute("aria-label", "Dismiss"); close.textContent = "×";
    toast.appendChild(close);
    box.appendChild(toast);
    dismissLater(toast);
  };

  document.addEventListener("click", function (e) {
    var toggle = e.target.closest("[data-theme-toggle]");
    if (toggle) { themeSet(currentTheme() === "dark" ? "light" : "dark"); return; }
    var navToggle = e.target.closest("[data-nav-toggle]");
    if (navToggle) {
      var open = navToggle.getAttribute("aria-expanded") !== "true";
      navToggle.setAttribute("aria-expanded", String(open));
      document.body.classList.toggle("nav-open", open);
      if (open) { var first = document.querySelector("#main-nav a"); if (first) first.focus(); }
      return;
    }
    var close = e.target.closest(".toast-close");
    if (close) close.parentElement.remove();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || !document.body.classList.contains("nav-open")) return;
    var navToggle = document.querySelector("[data-nav-toggle]");
    document.body.classList.remove("nav-open");
    if (navToggle) { navToggle.setAttribute("aria-expanded", "false"); navToggle.focus(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    labelToggles();
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
  });
})();
