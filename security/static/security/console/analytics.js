"use strict";
// Fills the analytics page from its JSON (?format=json, same range and switches as the page).
(function () {
  const section = document.getElementById("analytics");
  if (!section || !window.SecurityConsole) return;
  const C = window.SecurityConsole;
  const PATH_TABLES = new Set(["pages", "not_found", "static"]);
  const column = (table, name) => table.rows.map((row) => row[table.columns.indexOf(name)]);

  function pathLink(path) {
    return C.link(path, section.dataset.base + "&path=" + encodeURIComponent(path));
  }

  function addressLink(address) {
    return address ? C.link(address, section.dataset.addressUrl + encodeURIComponent(address) + "/") : "(none)";
  }

  function renderer(name) {
    if (PATH_TABLES.has(name)) return (cell, index) => (index === 0 ? pathLink(cell) : null);
    if (name === "hosts") return (cell, index) => (index === 0 ? addressLink(cell) : null);
    return null;
  }

  function drawTiles(summary) {
    const set = (id, value) => { document.getElementById(id).textContent = value; };
    set("tile-visitors", summary.visitors.toLocaleString());
    set("tile-pageviews", summary.pageviews.toLocaleString());
    set("tile-requests", summary.requests.toLocaleString());
    const share = summary.requests ? Math.round((100 * summary.bot_requests) / summary.requests) : 0;
    set("tile-bots", summary.bot_requests.toLocaleString() + " (" + share + "%)");
    set("tile-missing", summary.not_found.toLocaleString());
  }

  function drawSeries(data) {
    const step = data.range.step;
    document.querySelectorAll(".step").forEach((el) => { el.textContent = step; });
    const series = data.series;
    const labels = series.rows.map((row) => C.periodLabel(row[0], step));
    C.line(document.getElementById("chart-visitors"), labels, [
      { label: "Visitors", data: column(series, "visitors") },
      { label: "Pageviews", data: column(series, "pageviews") },
      { label: "Bot addresses", data: column(series, "bot_addresses"), colour: "#7f8c8d" },
    ]);
    const people = series.rows.map((row, i) => column(series, "requests")[i] - column(series, "bot_requests")[i]);
    C.stacked(document.getElementById("chart-bots"), labels, [
      { label: "People", data: people, colour: C.palette[0] },
      { label: "Bots", data: column(series, "bot_requests"), colour: "#7f8c8d" },
    ]);
    const status = data.status_series;
    C.stacked(document.getElementById("chart-status"), status.rows.map((row) => C.periodLabel(row[0], step)),
      ["2xx", "3xx", "4xx", "5xx"].map((label) => ({ label, data: column(status, label), colour: C.statusColours[label] })));
  }

  function drawTables(tables) {
    for (const [name, table] of Object.entries(tables)) {
      const element = document.getElementById("table-" + name);
      if (element) C.fillTable(element, table.rows, renderer(name));
    }
    const top = (table, n) => table.rows.slice(0, n);
    const browsers = top(tables.browsers, 8);
    C.doughnut(document.getElementById("chart-browsers"), browsers.map((r) => r[0]), browsers.map((r) => r[1]));
    const devices = top(tables.devices, 8);
    C.doughnut(document.getElementById("chart-devices"), devices.map((r) => r[0]), devices.map((r) => r[1]));
  }

  function drawPath(detail, step) {
    const canvas = document.getElementById("chart-path");
    if (!canvas || !detail) return;
    const cols = ["period", "requests", "2xx", "3xx", "4xx", "5xx"];
    const table = { columns: cols, rows: detail.series };
    C.stacked(canvas, detail.series.map((row) => C.periodLabel(row[0], step)),
      ["2xx", "3xx", "4xx", "5xx"].map((label) => ({ label, data: column(table, label), colour: C.statusColours[label] })));
    C.fillTable(document.getElementById("table-path-status"), detail.status);
  }

  C.getJSON(section.dataset.url)
    .then((data) => {
      drawTiles(data.summary);
      drawSeries(data);
      drawTables(data.tables);
      drawPath(data.path, data.range.step);
      section.setAttribute("aria-busy", "false");
      section.dataset.loaded = "true";
    })
    .catch((error) => {
      section.dataset.loaded = "error";
      section.insertAdjacentHTML("afterbegin", '<p class="flash error">Could not load the analytics data.</p>');
      console.error(error);
    });
})();
