"use strict";
// Fills the dashboard from its JSON endpoint. No inline script: works under a strict CSP.
(function () {
  const section = document.getElementById("dashboard");
  if (!section) return;
  const palette = ["#2f6fdb", "#27ae60", "#f39c12", "#c0392b", "#8e44ad", "#16a085", "#d35400", "#7f8c8d", "#2c3e50", "#e84393"];

  function fillTable(id, rows, linkBase) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
      const key = document.createElement("td");
      if (linkBase && row.key) {
        const a = document.createElement("a");
        a.href = linkBase + encodeURIComponent(row.key) + "/";
        a.textContent = row.key;
        key.appendChild(a);
      } else {
        key.textContent = row.key || "(none)";
      }
      const count = document.createElement("td");
      count.textContent = row.count.toLocaleString();
      tr.append(key, count);
      body.appendChild(tr);
    }
  }

  function draw(data) {
    document.getElementById("tile-total").textContent = data.total.toLocaleString();
    document.getElementById("tile-blocked").textContent = data.blocked.toLocaleString();
    document.getElementById("tile-limited").textContent = data.rate_limited.toLocaleString();
    const hourLabel = (iso) => new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" });
    new Chart(document.getElementById("chart-series"), {
      type: "line",
      data: {
        labels: data.series.map((p) => hourLabel(p.hour)),
        datasets: [{ label: "Requests", data: data.series.map((p) => p.count), borderColor: palette[0], backgroundColor: "rgba(47,111,219,.15)", fill: true, tension: 0.25, pointRadius: 0 }],
      },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
    const classes = Object.keys(data.status_classes);
    new Chart(document.getElementById("chart-status"), {
      type: "doughnut",
      data: { labels: classes, datasets: [{ data: classes.map((c) => data.status_classes[c]), backgroundColor: ["#27ae60", "#2f6fdb", "#f39c12", "#c0392b"] }] },
      options: { animation: false },
    });
    new Chart(document.getElementById("chart-countries"), {
      type: "bar",
      data: { labels: data.top_countries.map((c) => c.key), datasets: [{ label: "Requests", data: data.top_countries.map((c) => c.count), backgroundColor: palette }] },
      options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } } },
    });
    fillTable("table-ips", data.top_ips, section.dataset.addressUrl);
    fillTable("table-paths", data.top_paths);
    section.setAttribute("aria-busy", "false");
    section.dataset.loaded = "true";
  }

  fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("dashboard data: HTTP " + response.status);
      return response.json();
    })
    .then(draw)
    .catch((error) => {
      section.dataset.loaded = "error";
      section.insertAdjacentHTML("afterbegin", '<p class="flash error">Could not load the dashboard data.</p>');
      console.error(error);
    });
})();
