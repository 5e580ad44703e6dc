// The ontology studio's form behaviour: add and remove attribute rows, show
// the time attribute only for time series (suggesting the date/timestamp
// rows), and let HTMX swap in refused forms (4xx with inline errors) instead
// of treating them as failures.
(function () {
  "use strict";
  var FORM_ERRORS = [400, 403, 409, 422];

  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (FORM_ERRORS.indexOf(ev.detail.xhr.status) >= 0) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  function editor(node) { return node.closest && node.closest("[data-entity-editor]"); }

  function timeOptions(root) {
    var list = root.querySelector("#time-attribute-options");
    if (!list) return;
    list.innerHTML = "";
    root.querySelectorAll("[data-attr-rows] tr").forEach(function (row) {
      var code = row.querySelector('input[name$="-code"]');
      var type = row.querySelector('select[name$="-data_type"]');
      if (code && code.value && type && (type.value === "date" || type.value === "timestamp")) {
        var option = document.createElement("option");
        option.value = code.value;
        list.appendChild(option);
      }
    });
  }

  function kindChanged(root) {
    var select = root.querySelector("[data-kind-select]");
    var field = root.querySelector("[data-time-field]");
    if (select && field) field.hidden = select.value !== "time_series";
  }

  function renumber(root) {
    root.querySelectorAll("[data-attr-rows] tr").forEach(function (row, i) {
      row.querySelectorAll("label").forEach(function (label) {
        label.textContent = label.textContent.replace(/Attribute \d+/, "Attribute " + (i + 1));
      });
      var remove = row.querySelector("[data-remove-row]");
      if (remove) remove.setAttribute("aria-label", "Remove attribute " + (i + 1));
    });
  }

  document.addEventListener("click", function (ev) {
    var add = ev.target.closest && ev.target.closest("[data-add-row]");
    if (add) {
      var root = editor(add), body = root.querySelector("[data-attr-rows]");
      var template = root.querySelector("#attr-row-template");
      var index = parseInt(body.dataset.nextIndex || "0", 10);
      body.dataset.nextIndex = String(index + 1);
      var html = template.innerHTML.replace(/__i__/g, String(index)).replace(/__n__/g, String(body.rows.length + 1));
      body.insertAdjacentHTML("beforeend", html);
      var input = body.lastElementChild.querySelector('input[name$="-code"]');
      if (input) input.focus();
      return;
    }
    var remove = ev.target.closest && ev.target.closest("[data-remove-row]");
    if (remove) {
      var form = editor(remove), row = remove.closest("tr"), next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber(form);
      timeOptions(form);
      var focus = next ? next.querySelector('input[name$="-code"]') : form.querySelector("[data-add-row]");
      if (focus) focus.focus();
    }
  });

  document.addEventListener("change", function (ev) {
    var root = editor(ev.target);
    if (!root) return;
    if (ev.target.matches("[data-kind-select]")) kindChanged(root);
    timeOptions(root);
  });

  // The entity list marks the entity open in the panel (HTMX navigation changes the URL, not the list).
  function markCurrent() {
    var match = location.pathname.match(/\/ontology\/entities\/([^/]+)\//);
    document.querySelectorAll("#entity-list a[data-entity]").forEach(function (a) {
      if (match && a.dataset.entity === decodeURIComponent(match[1])) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
  }

  function initEditors() {
    markCurrent();
    document.querySelectorAll("[data-entity-editor]").forEach(function (root) { kindChanged(root); timeOptions(root); });
  }
  document.addEventListener("DOMContentLoaded", initEditors);
  document.addEventListener("htmx:afterSettle", initEditors);
})();
