// The Data Mapper page (docs/sources.md, "The Data Mapper page"). A binding is
// the value of the attribute's select `source.<attribute>`: dragging a source
// field onto an attribute's slot, or picking a field with Enter/Space and then
// pressing Enter/Space on a slot, sets that select and fires `change`, which
// makes HTMX post the form for a re-validated attributes panel. "Unbind"
// empties it. Native HTML5 drag events only; the panel is re-rendered by the
// server after each change, so handlers are delegated from the document.
(function () {
  "use strict";
  var form = document.getElementById("mapper-form");
  if (!form) return;
  var picked = null; // the source field picked by keyboard (or click)
  var DRAG_TYPE = "text/x-ae-source-field";

  function say(text) {
    var live = document.getElementById("mapper-picked");
    if (live) live.textContent = text;
  }

  function fieldButtons() { return form.querySelectorAll(".source-field"); }

  function pick(name) {
    picked = name;
    fieldButtons().forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.field === name ? "true" : "false"); });
    form.querySelectorAll(".slot").forEach(function (s) { s.classList.toggle("can-bind", !!name); });
    say(name ? "Picked " + name + ": press Enter on an attribute's slot to bind it." : "");
  }

  function bind(attribute, field) {
    var select = form.querySelector('select[data-source-select="' + CSS.escape(attribute) + '"]');
    if (!select) return;
    if (field && !Array.prototype.some.call(select.options, function (o) { return o.value === field; })) {
      select.add(new Option(field, field));
    }
    select.value = field;
    say(field ? attribute + " is bound to " + field + "." : attribute + " is unbound.");
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }

  form.addEventListener("click", function (e) {
    var field = e.target.closest(".source-field");
    if (field) { pick(picked === field.dataset.field ? null : field.dataset.field); return; }
    var slot = e.target.closest(".slot");
    if (slot) {
      if (picked) { var name = picked; pick(null); bind(slot.dataset.attr, name); }
      else { var select = form.querySelector('select[data-source-select="' + CSS.escape(slot.dataset.attr) + '"]'); if (select) select.focus(); }
      return;
    }
    var unbind = e.target.closest("[data-unbind]");
    if (unbind) bind(unbind.dataset.unbind, "");
  });

  form.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && picked) { pick(null); e.preventDefault(); }
  });

  // Native drag and drop.
  form.addEventListener("dragstart", function (e) {
    var field = e.target.closest && e.target.closest(".source-field");
    if (!field) return;
    e.dataTransfer.setData(DRAG_TYPE, field.dataset.field);
    e.dataTransfer.setData("text/plain", field.dataset.field);
    e.dataTransfer.effectAllowed = "link";
    field.classList.add("dragging");
  });
  form.addEventListener("dragend", function (e) {
    var field = e.target.closest && e.target.closest(".source-field");
    if (field) field.classList.remove("dragging");
  });
  form.addEventListener("dragover", function (e) {
    var slot = e.target.closest && e.target.closest(".slot");
    if (!slot) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "link";
    slot.classList.add("drop-over");
  });
  form.addEventListener("dragleave", function (e) {
    var slot = e.target.closest && e.target.closest(".slot");
    if (slot && !slot.contains(e.relatedTarget)) slot.classList.remove("drop-over");
  });
  form.addEventListener("drop", function (e) {
    var slot = e.target.closest && e.target.closest(".slot");
    if (!slot) return;
    e.preventDefault();
    slot.classList.remove("drop-over");
    var name = e.dataTransfer.getData(DRAG_TYPE) || e.dataTransfer.getData("text/plain");
    if (name) { pick(null); bind(slot.dataset.attr, name); }
  });

  // After the panel is re-rendered, a pick still in progress shows on the new slots.
  document.body.addEventListener("htmx:afterSwap", function () { if (picked) pick(picked); });

  // The dry run's filter: only the rejected rows.
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches("[data-dry-filter]")) return;
    var table = document.querySelector('[data-testid="dry-rows"]');
    if (table) table.classList.toggle("rejected-only", e.target.checked);
  });
})();
