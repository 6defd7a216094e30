/**
 * The script every report page runs: sortable tables, the extra-columns toggle, charts drawn
 * from the embedded data (animations off, so a page is complete once loaded), a copy button for
 * the provenance, and a self-check (script errors, network requests, blank canvases) that tests
 * read from the rendered DOM.
 *
 * @module
 */

/** Plain JavaScript, inlined after chart.js. */
export const CLIENT_SCRIPT = String.raw`
(function () {
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message || e)); });
  var originalError = console.error;
  console.error = function () { errors.push(Array.prototype.join.call(arguments, " ")); originalError.apply(console, arguments); };
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var palette = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#57606a"];
  var dashes = [[], [6, 4], [2, 3], [10, 3, 2, 3]];

  function sortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.setAttribute("tabindex", "0");
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.classList.contains("average"); });
        var pinned = Array.prototype.slice.call(body.rows).filter(function (r) { return r.classList.contains("average"); });
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-value"), y = b.cells[column].getAttribute("data-value");
          var nx = x === null ? NaN : Number(x), ny = y === null ? NaN : Number(y);
          var cmp = !isNaN(nx) && !isNaN(ny) ? nx - ny : a.cells[column].textContent.localeCompare(b.cells[column].textContent);
          return ascending ? cmp : -cmp;
        });
        rows.concat(pinned).forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
  }
  document.querySelectorAll("table.sortable").forEach(sortable);
  document.querySelectorAll("input[data-toggle-extra]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.getElementById(box.getAttribute("data-toggle-extra")).classList.toggle("show-extra", box.checked);
    });
  });
  var copy = document.getElementById("copy-provenance");
  if (copy) copy.addEventListener("click", function () {
    var text = document.getElementById("provenance").textContent;
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
  });

  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = "system-ui, sans-serif";
  var charts = data.charts || {};
  Object.keys(charts).forEach(function (id) {
    var spec = charts[id];
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var datasets = spec.series.map(function (s, i) {
      var color = palette[i % palette.length];
      var set = { label: s.label, data: s.data, borderColor: color, backgroundColor: spec.type === "bar" ? color + "cc" : color,
        borderDash: dashes[i % dashes.length], pointStyle: ["circle", "rect", "triangle", "rectRot"][i % 4], pointRadius: 3, fill: false, spanGaps: true };
      if (s.band) set.errorBars = s.band;
      return set;
    });
    // +/- std bands: an upper and a lower dataset filled between, drawn lighter
    spec.series.forEach(function (s, i) {
      if (!s.band) return;
      var color = palette[i % palette.length];
      datasets.push({ label: s.label + " +std", data: s.data.map(function (v, j) { return v === null ? null : v + s.band[j]; }),
        borderColor: "transparent", backgroundColor: color + "22", pointRadius: 0, fill: "+1" });
      datasets.push({ label: s.label + " -std", data: s.data.map(function (v, j) { return v === null ? null : v - s.band[j]; }),
        borderColor: "transparent", pointRadius: 0, fill: false });
    });
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          title: { display: true, text: spec.title },
          legend: { labels: { filter: function (item) { return !/ [+-]std$/.test(item.text); } } },
        },
        scales: {
          x: { title: { display: !!spec.xLabel, text: spec.xLabel || "" } },
          y: { title: { display: !!spec.yLabel, text: spec.yLabel || "" }, beginAtZero: true, suggestedMax: spec.suggestedMax },
        },
      },
    });
  });

  function blank(canvas) {
    try {
      var ctx = canvas.getContext("2d");
      var pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return false;
      return true;
    } catch (e) { return true; }
  }
  var canvases = Array.prototype.slice.call(document.querySelectorAll("canvas"));
  var result = {
    errors: errors,
    resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
    canvases: canvases.length,
    blankCanvases: canvases.filter(blank).map(function (c) { return c.id; }),
    renderMs: Math.round(performance.now()),
  };
  result.cspViolations = [];
  var out = document.getElementById("selfcheck");
  function publish() { if (out) out.textContent = JSON.stringify(result); }
  // Anything blocked or loaded later (a violation is reported after this script) updates the check.
  document.addEventListener("securitypolicyviolation", function (e) {
    result.cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
    publish();
  });
  if (window.PerformanceObserver) {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (r) { result.resources.push(r.name); });
      publish();
    }).observe({ type: "resource" });
  }
  publish();
})();
`;
