"use strict";
// Chart and table helpers shared by the console's pages (window.SecurityConsole), on top of
// the vendored Chart.js. No inline script anywhere: the pages work under a strict CSP.
(function () {
  const palette = ["#2f6fdb", "#27ae60", "#f39c12", "#c0392b", "#8e44ad", "#16a085", "#d35400", "#7f8c8d", "#2c3e50", "#e84393"];
  const statusColours = { "2xx": "#27ae60", "3xx": "#2f6fdb", "4xx": "#f39c12", "5xx": "#c0392b" };
  const base = { animation: false, responsive: true, maintainAspectRatio: true };

  function periodLabel(iso, step) {
    const when = new Date(iso);
    const options = step === "hour"
      ? { month: "short", day: "numeric", hour: "2-digit", timeZone: "UTC" }
      : { month: "short", day: "numeric", timeZone: "UTC" };
    return when.toLocaleString([], options);
  }

  function line(canvas, labels, series) {
    return new Chart(canvas, {
      type: "line",
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label, data: s.data, borderColor: s.colour || palette[i], backgroundColor: s.colour || palette[i],
          fill: false, tension: 0.25, pointRadius: labels.length > 60 ? 0 : 2,
        })),
      },
      options: { ...base, interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true } } },
    });
  }

  function stacked(canvas, labels, series) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels, datasets: series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: s.colour || palette[i] })) },
      options: { ...base, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  }

  function doughnut(canvas, labels, values) {
    return new Chart(canvas, {
      type: "doughnut",
      data: { labels, datasets: [{ data: values, backgroundColor: palette }] },
      options: { ...base, plugins: { legend: { position: "right" } } },
    });
  }

  function horizontalBars(canvas, labels, values) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels, datasets: [{ data: values, backgroundColor: palette }] },
      options: { ...base, indexAxis: "y", plugins: { legend: { display: false } } },
    });
  }

  function link(text, href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  // rows: arrays of cells; render(cell, columnIndex, row) may return a Node (a link) or text.
  function fillTable(table, rows, render) {
    const body = table.querySelector("tbody");
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = table.querySelectorAll("thead th").length || 1;
      td.className = "muted";
      td.textContent = "Nothing in this range.";
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      row.forEach((cell, index) => {
        const td = document.createElement("td");
        const shown = render ? render(cell, index, row) : null;
        if (shown instanceof Node) td.appendChild(shown);
        else td.textContent = typeof cell === "number" ? cell.toLocaleString() : (cell === "" ? "(none)" : String(cell));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then((response) => {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.json();
    });
  }

  window.SecurityConsole = { palette, statusColours, periodLabel, line, stacked, doughnut, horizontalBars, link, fillTable, getJSON };
})();
