// Diagrams of the ontology pages: a graph laid out by dagre (vendored, global
// `dagre`) and drawn as SVG, with zoom (wheel, buttons), pan (drag) and
// click-through. Shared by the studio, the UML diagram of the object browser
// and the required-objects graph.
//
// Markup: <script type="application/json" id="g">{nodes, edges}</script> and
//   <div class="diagram" data-diagram-source="g" data-diagram-kind="uml|deps"
//        data-diagram-link="/url/with/__code__">.
// "uml" graphs are apps/ontology/uml.py's graph_build() output (class boxes
// with attributes; relationships drawn with UML end markers); "deps" graphs
// are nodes of type metric/entity/attribute with edges uses/reads/has.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var LINE = 18, PAD = 10, HEAD = 42;
  var FONT = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
  var BOLD = "600 13px system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif";
  var measureCtx = document.createElement("canvas").getContext("2d");

  function textWidth(text, font) {
    measureCtx.font = font;
    return Math.ceil(measureCtx.measureText(String(text)).width);
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls) {
    var t = el("text", { x: x, y: y, "class": cls || "" }, parent);
    t.textContent = value;
    return t;
  }

  // --- what each node looks like -------------------------------------------

  var STEREOTYPES = { time_series: "«time series»", reference: "«reference»" };

  function umlBox(node) {
    if (node.type === "metric") {
      var mlines = ["«metric» " + node.code];
      var mw = Math.max(textWidth(node.name, BOLD), textWidth(mlines[0], FONT)) + 2 * PAD;
      return { w: Math.max(mw, 120), h: HEAD, title: node.name, sub: mlines[0], rows: [], cls: "metric" };
    }
    var rows = (node.attributes || []).map(function (a) {
      var row = a.code + " : " + a.data_type + (a.nullable ? "" : " [1]");
      if (a.code === node.time_attribute) row += " «time»";
      return row;
    });
    var sub = (STEREOTYPES[node.kind] || node.kind) + " " + node.code;
    var w = Math.max(textWidth(node.name, BOLD), textWidth(sub, FONT));
    rows.forEach(function (r) { w = Math.max(w, textWidth(r, FONT)); });
    return { w: Math.max(w + 2 * PAD, 140), h: HEAD + rows.length * LINE + PAD, title: node.name, sub: sub, rows: rows, cls: "entity" };
  }

  function depsBox(node) {
    if (node.type === "attribute") {
      return { w: textWidth(node.code, FONT) + 2 * PAD, h: 26, title: node.code, sub: "", rows: [], cls: "attribute", small: true };
    }
    var sub = node.type === "metric" ? (node.in_cart ? "KPI · " : "metric · ") + node.code : "entity · " + node.code;
    var w = Math.max(textWidth(node.title, BOLD), textWidth(sub, FONT)) + 2 * PAD;
    return { w: w, h: HEAD, title: node.title, sub: sub, rows: [],
             cls: node.type + (node.in_cart ? " cart" : "") };
  }

  function linkFor(node, template) {
    if (!template) return null;
    var code = null;
    if (node.type === "entity") code = node.code;
    if (node.type === "attribute") code = node.id.slice("attribute:".length).split(".")[0];
    return code ? template.replace("__code__", encodeURIComponent(code)) : null;
  }

  // --- edges -----------------------------------------------------------------

  function edgeStyle(edge) {
    switch (edge.kind) {
      case "many_to_one": return { end: "arrow", cls: "association" };
      case "one_to_many": return { end: "arrow", cls: "association" };
      case "many_to_many": return { cls: "association" };
      case "composition": return { start: "diamond-filled", cls: "composition" };
      case "aggregation": return { start: "diamond-open", cls: "aggregation" };
      case "measures": case "uses": case "reads": return { end: "arrow", cls: "dependency" };
      case "has": return { cls: "has" };
      default: return { end: "arrow", cls: "association" };
    }
  }

  function defs(svg, prefix) {
    var d = el("defs", {}, svg);
    var arrow = el("marker", { id: prefix + "arrow", viewBox: "0 0 12 12", refX: "11", refY: "6", markerWidth: "12",
                               markerHeight: "12", markerUnits: "userSpaceOnUse", orient: "auto" }, d);
    el("path", { d: "M1,1 L11,6 L1,11", "class": "marker-open" }, arrow);
    [["diamond-filled", "marker-filled"], ["diamond-open", "marker-hollow"]].forEach(function (m) {
      var marker = el("marker", { id: prefix + m[0], viewBox: "0 0 20 12", refX: "1", refY: "6", markerWidth: "20",
                                  markerHeight: "12", markerUnits: "userSpaceOnUse", orient: "auto" }, d);
      el("path", { d: "M1,6 L10,1 L19,6 L10,11 Z", "class": m[1] }, marker);
    });
  }

  function pathD(points) {
    return points.map(function (p, i) { return (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" ");
  }

  // Multiplicity text a little way along the edge from its end, off to the side.
  function endLabel(group, from, toward, value) {
    if (!value) return;
    var dx = toward.x - from.x, dy = toward.y - from.y, len = Math.sqrt(dx * dx + dy * dy) || 1;
    var x = from.x + dx / len * 16 - dy / len * 10, y = from.y + dy / len * 16 + dx / len * 10 + 4;
    text(group, x, y, value, "multiplicity");
  }

  // --- drawing -----------------------------------------------------------------

  function render(container, graph, options) {
    var kind = options.kind || "uml";
    var prefix = (container.id || "d") + "-";
    var g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph(kind === "uml" ? { rankdir: "TB", nodesep: 50, ranksep: 70, marginx: 20, marginy: 20 }
                              : { rankdir: "LR", nodesep: 16, ranksep: 60, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var boxes = {};
    graph.nodes.forEach(function (node) {
      var box = kind === "uml" ? umlBox(node) : depsBox(node);
      boxes[node.id] = box;
      g.setNode(node.id, { width: box.w, height: box.h });
    });
    graph.edges.forEach(function (edge, i) {
      if (!boxes[edge.source] || !boxes[edge.target]) return;
      // A labelled edge gets a label slot from dagre, which also keeps two
      // edges between the same classes (one each way) apart.
      var label = kind === "uml" && edge.code ? edge.code : "";
      g.setEdge(edge.source, edge.target, label ? { edge: edge, label: label, width: textWidth(label, FONT) + 8, height: 16, labelpos: "c" }
                                                : { edge: edge }, "e" + i);
    });
    dagre.layout(g);

    container.innerHTML = "";
    var size = g.graph();
    var svg = el("svg", { "class": "diagram-svg", width: "100%", height: "100%", focusable: "false" }, container);
    defs(svg, prefix);
    var viewport = el("g", { "class": "viewport" }, svg);

    g.edges().forEach(function (e) {
      var data = g.edge(e), edge = data.edge, style = edgeStyle(edge), pts = data.points;
      var group = el("g", { "class": "edge " + style.cls, "data-kind": edge.kind || "" }, viewport);
      var attrs = { d: pathD(pts) };
      if (style.end) attrs["marker-end"] = "url(#" + prefix + style.end + ")";
      if (style.start) attrs["marker-start"] = "url(#" + prefix + style.start + ")";
      el("path", attrs, group);
      if (edge.multiplicity) {
        endLabel(group, pts[0], pts[1], edge.multiplicity.source);
        endLabel(group, pts[pts.length - 1], pts[pts.length - 2], edge.multiplicity.target);
      }
      if (data.label && data.x !== undefined) {
        var t = text(group, data.x, data.y + 4, data.label, "edge-label");
        t.setAttribute("text-anchor", "middle");
      }
    });

    graph.nodes.forEach(function (node) {
      var box = boxes[node.id], pos = g.node(node.id);
      var x = pos.x - box.w / 2, y = pos.y - box.h / 2;
      var href = linkFor(node, options.link);
      var group = el("g", { "class": "node " + box.cls + (href ? " linked" : ""), transform: "translate(" + x + "," + y + ")",
                            "data-node": node.id }, viewport);
      if (href) {
        group.setAttribute("tabindex", "0");
        group.setAttribute("role", "link");
        group.setAttribute("aria-label", (node.name || node.title || node.code) + ": open");
        group.dataset.href = href;
      }
      var title = el("title", {}, group);
      title.textContent = node.name || node.title || node.code;
      el("rect", { width: box.w, height: box.h, rx: box.small ? 13 : 6, "class": "box" }, group);
      if (box.small) {
        text(group, PAD, 17, box.title, "row");
        return;
      }
      text(group, PAD, 18, box.title, "title");
      text(group, PAD, 34, box.sub, "sub");
      if (box.rows.length) {
        el("line", { x1: 0, x2: box.w, y1: HEAD, y2: HEAD, "class": "divider" }, group);
        box.rows.forEach(function (row, i) { text(group, PAD, HEAD + 16 + i * LINE, row, "row"); });
      }
    });

    var view = { x: 0, y: 0, k: 1, w: size.width, h: size.height };
    function apply() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
    function fit() {
      var cw = container.clientWidth || 800, ch = container.clientHeight || 400;
      view.k = Math.min(cw / view.w, ch / view.h, 1.25);
      view.x = (cw - view.w * view.k) / 2;
      view.y = (ch - view.h * view.k) / 2;
      apply();
    }
    function zoom(factor, cx, cy) {
      var k = Math.max(0.15, Math.min(4, view.k * factor));
      cx = cx === undefined ? container.clientWidth / 2 : cx;
      cy = cy === undefined ? container.clientHeight / 2 : cy;
      view.x = cx - (cx - view.x) * (k / view.k);
      view.y = cy - (cy - view.y) * (k / view.k);
      view.k = k;
      apply();
    }
    // Size the frame to the drawing (within limits), then fit it in.
    var natural = Math.min(Math.max(size.height * Math.min(1, (container.clientWidth || 800) / size.width) + 24, 220),
                           container.classList.contains("tall") ? 720 : 560);
    container.style.height = Math.round(natural) + "px";
    fit();

    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = svg.getBoundingClientRect();
      zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });

    var drag = null;
    svg.addEventListener("pointerdown", function (ev) {
      drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false };
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!drag.moved) { drag.moved = true; svg.setPointerCapture(ev.pointerId); svg.classList.add("panning"); }
      view.x = drag.vx + dx; view.y = drag.vy + dy; apply();
    });
    function endDrag(ev) {
      if (!drag) return;
      var wasClick = !drag.moved;
      drag = null;
      svg.classList.remove("panning");
      if (wasClick) {
        var node = ev.target.closest && ev.target.closest("[data-href]");
        if (node) go(node.dataset.href);
      }
    }
    svg.addEventListener("pointerup", endDrag);
    svg.addEventListener("pointercancel", function () { drag = null; svg.classList.remove("panning"); });
    svg.addEventListener("keydown", function (ev) {
      var node = ev.target.closest && ev.target.closest("[data-href]");
      if (node && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); go(node.dataset.href); }
    });

    container.aeDiagram = { zoomIn: function () { zoom(1.25); }, zoomOut: function () { zoom(0.8); }, fit: fit };
    container.dataset.rendered = "true";
    return container.aeDiagram;
  }

  function go(href) {
    if (href.charAt(0) === "#") {
      location.hash = href;
      var target = document.getElementById(href.slice(1));
      if (target) target.focus({ preventScroll: true });
    } else {
      location.href = href;
    }
  }

  function init(root) {
    (root || document).querySelectorAll("[data-diagram-source]").forEach(function (container) {
      if (container.dataset.rendered) return;
      var source = document.getElementById(container.dataset.diagramSource);
      if (!source || typeof dagre === "undefined") return;
      try {
        var graph = JSON.parse(source.textContent);
        if (!graph.nodes.length) {
          container.innerHTML = '<p class="muted empty">Nothing to draw yet.</p>';
          return;
        }
        render(container, graph, { kind: container.dataset.diagramKind, link: container.dataset.diagramLink });
      } catch (err) {
        container.innerHTML = '<p class="alert error" role="alert">The diagram could not be drawn.</p>';
        if (window.console) console.error(err);
      }
    });
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-diagram-zoom]");
    if (!button) return;
    var container = document.getElementById(button.dataset.diagram);
    var d = container && container.aeDiagram;
    if (!d) return;
    ({ "in": d.zoomIn, out: d.zoomOut, fit: d.fit })[button.dataset.diagramZoom]();
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });

  window.AE = window.AE || {};
  window.AE.diagram = { render: render, init: init };
})();
