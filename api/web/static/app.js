// Herald dashboard: the few live parts. Everything else is plain HTML forms (and htmx attributes).
"use strict";

function overviewCharts() {
  const byChannel = document.getElementById("chart-channel");
  const byPriority = document.getElementById("chart-priority");
  if (!byChannel || !byPriority || typeof Chart === "undefined") return;
  const palette = ["#0b57d0", "#146c2e", "#b3261e", "#8a4b00", "#6a1b9a", "#00696b", "#4a5360"];
  const options = {
    animation: false, responsive: true, maintainAspectRatio: false,
    scales: { x: { stacked: true, ticks: { maxTicksLimit: 8 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    plugins: { legend: { position: "bottom" } },
  };
  const charts = [byChannel, byPriority].map((canvas) => new Chart(canvas, { type: "bar", data: { labels: [], datasets: [] }, options }));
  function fill(chart, labels, series) {
    chart.data.labels = labels;
    chart.data.datasets = Object.keys(series).sort().map((name, i) => ({
      label: name, data: series[name], backgroundColor: palette[i % palette.length],
    }));
    chart.update();
  }
  async function refresh() {
    const response = await fetch(byChannel.dataset.source, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    fill(charts[0], data.labels, data.by_channel);
    fill(charts[1], data.labels, data.by_priority);
    document.getElementById("chart-updated").textContent = data.updated;
  }
  refresh();
  setInterval(refresh, 10000);
}

function liveInbox() {
  const list = document.getElementById("inbox-list");
  if (!list || typeof EventSource === "undefined") return;
  const source = new EventSource(list.dataset.stream);
  source.onmessage = (message) => {
    const item = JSON.parse(message.data);
    if (document.getElementById("item-" + item.notification_id)) return;
    const empty = document.getElementById("inbox-empty");
    if (empty) empty.remove();
    htmx.ajax("GET", "/ui/inbox/items/" + encodeURIComponent(item.notification_id),
              { target: "#inbox-list", swap: "afterbegin" });
    document.getElementById("unread-count").textContent = item.unread_count;
    document.title = (item.unread_count ? "(" + item.unread_count + ") " : "") + "Inbox · Herald";
  };
}

function selectAll() {
  document.querySelectorAll("input[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll("input[name='" + box.dataset.selectAll + "']").forEach((item) => { item.checked = box.checked; });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  overviewCharts();
  liveInbox();
  selectAll();
});
