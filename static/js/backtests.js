// Backtests: the runs, newest first; a run's precision@10 % per model and horizon against a
// random pick (0.10), with its 95 % bootstrap interval, and every figure in a table.
(() => {
  const plot = document.getElementById("plot");
  const [runList, title, stats, errorBox, runError, empty, table] =
    ["runs", "title", "stats", "error", "run-error", "empty", "figures"].map((id) => document.getElementById(id));
  const runNotes = document.getElementById("run-notes");
  const HORIZON_COLOURS = ["#3b9be8", "#1fb5a0", "#fde725", "#c77dff"];
  const pct = (value) => (value == null ? "–" : `${(value * 100).toFixed(1)} %`);
  const fixed = (value, suffix = "") => (value == null ? "–" : value.toFixed(2) + suffix);
  const names = (text) => text.split(",").map((name) => name.trim()).filter(Boolean);
  const headline = (run) => run.results.find((r) => r.model === "ensemble" && r.horizon === "24h" && r.side === "both");

  function drawRuns(runs) {
    runList.replaceChildren(...runs.map((run) => {
      const button = Object.assign(document.createElement("button"), {type: "button", className: "run"});
      button.dataset.id = run.id;
      button.dataset.status = run.status;
      button.append(liqmap.element("b", run.symbol), liqmap.element("span", `${run.start} → ${run.end}`),
        liqmap.element("strong", pct(headline(run)?.precision_at_10)),
        liqmap.element("small", liqmap.when(run.created_at)), liqmap.element("em", run.status));
      button.addEventListener("click", () => show(run.id));
      const item = document.createElement("li");
      item.append(button);
      return item;
    }));
  }

  function draw(run) {
    const models = names(run.model_names), both = run.results.filter((r) => r.side === "both");
    const traces = names(run.horizons).map((horizon, i) => {
      const rows = models.map((model) => both.find((r) => r.model === model && r.horizon === horizon) || {});
      return {type: "bar", name: horizon, x: models.map(liqmap.label), y: rows.map((r) => r.precision_at_10 ?? null),
        marker: {color: HORIZON_COLOURS[i % HORIZON_COLOURS.length]}, customdata: rows.map((r) => [r.p10_low ?? null, r.p10_high ?? null, r.evaluations ?? 0]),
        error_y: {type: "data", symmetric: false, color: "#e3e6ee", thickness: 1.5, width: 5,
          array: rows.map((r) => (r.p10_high == null ? 0 : r.p10_high - r.precision_at_10)),
          arrayminus: rows.map((r) => (r.p10_low == null ? 0 : r.precision_at_10 - r.p10_low))},
        hovertemplate: `%{x} · ${horizon}<br>p@10 %: <b>%{y:.1%}</b><br>95 % interval: %{customdata[0]:.1%} – %{customdata[1]:.1%}<br>%{customdata[2]} evaluations<extra></extra>`};
    });
    const random = liqmap.priceLine(0.1, "y", {color: "#8089a0", text: "random"});
    Plotly.react(plot, traces, liqmap.layout({barmode: "group", shapes: [random.shape], annotations: [random.annotation],
      xaxis: {...liqmap.axis}, yaxis: {...liqmap.axis, tickformat: ".0%", rangemode: "tozero", title: {text: "precision@10 %"}}}),
    liqmap.config);
  }

  function drawTable(run) {
    table.tBodies[0].replaceChildren(...run.results.map((r) => {
      const row = document.createElement("tr");
      row.append(...[liqmap.label(r.model), r.horizon, r.side, pct(r.precision_at_10), fixed(r.lift, "×"),
        r.p10_low == null ? "–" : `${pct(r.p10_low)} – ${pct(r.p10_high)}`, pct(r.recall_1pct), fixed(r.spearman), r.evaluations].map((text) => liqmap.element("td", text)));
      return row;
    }));
  }

  async function show(id) {
    plot.dataset.state = "loading";
    try {
      const run = await liqmap.getJSON(`backtests/${id}`);
      for (const button of runList.querySelectorAll("button")) button.setAttribute("aria-pressed", button.dataset.id == id);
      history.replaceState(null, "", `#${id}`);
      title.textContent = `${run.symbol} · ${run.start} → ${run.end}`;
      liqmap.figures(stats, {"Status": run.status, "Created": liqmap.when(run.created_at),
        "Finished": run.finished_at ? liqmap.when(run.finished_at) : "–"});
      const scored = run.status === "done";
      runError.hidden = scored;
      runError.textContent = run.error || `This run is ${run.status}: its figures appear when it is done.`;
      liqmap.notes(runNotes, run.notes || []);
      plot.hidden = table.hidden = !scored;
      if (scored) { draw(run); drawTable(run); }
      liqmap.showError(errorBox, null);
      plot.dataset.state = "ready";
    } catch (error) {
      liqmap.showError(errorBox, error);
      plot.dataset.state = "error";
    }
  }

  async function load() {
    try {
      const runs = await liqmap.getJSON("backtests");
      empty.hidden = runs.length > 0;
      document.querySelector(".backtests").hidden = !runs.length;
      plot.dataset.state = runs.length ? plot.dataset.state : "empty";
      drawRuns(runs);
      const chosen = runs.find((run) => `#${run.id}` === location.hash) || runs[0];
      if (chosen) await show(chosen.id);
    } catch (error) {
      liqmap.showError(errorBox, error);
      plot.dataset.state = "error";
    }
  }

  load();
})();
