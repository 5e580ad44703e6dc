// Error states for HTMX regions: an element with data-error-target="<id>" shows
// that element when a request fails, and hides it again after a good swap.
(function () {
  function errorBox(target) {
    var region = target && target.closest && target.closest("[data-error-target]");
    return region ? document.getElementById(region.dataset.errorTarget) : null;
  }
  function show(e) { var box = errorBox(e.detail.target); if (box) box.hidden = false; }
  document.addEventListener("htmx:responseError", show);
  document.addEventListener("htmx:sendError", show);
  document.addEventListener("htmx:afterSwap", function (e) {
    var box = errorBox(e.detail.target); if (box) box.hidden = true;
  });
})();
