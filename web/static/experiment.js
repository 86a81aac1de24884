// Live experiment page: poll the JSON API and update each run's stage, job, progress, errors, events and loss chart
// in place (the chart image is reloaded whenever the run's loss curve has grown).
// Everything from the record is written with textContent; the results section is swapped for the server-rendered
// (autoescaped) fragment whenever another run gets its metrics.
(function () {
  "use strict";
  var root = document.getElementById("experiment");
  if (!root) { return; }
  var FINISHED = root.dataset.finishedStatuses.split(" ");  // shared.record_types.FINISHED_EXPERIMENT_STATUSES
  var pollMs = parseInt(root.dataset.pollMs, 10) || 1500;
  var scoredRuns = -1;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function setStatus(node, status) {
    node.textContent = status;
    node.className = "status status-" + status;
  }

  function runCard(run) {
    var card = el("article", "run card");
    card.dataset.runId = run.id;
    var title = el("h3", "", run.id + " · " + run.base_model + " ");
    title.append(el("small", "", run.kind), " ");
    var status = el("span", "status");
    status.dataset.field = "status";
    title.append(status);
    var meta = el("p", "meta", "job ");
    [["job_id", " ("], ["job_status", ") · model "], ["fine_tuned_model", ""]].forEach(function (pair) {
      var span = el("span");
      span.dataset.field = pair[0];
      meta.append(span, pair[1]);
    });
    var progress = el("div", "progress");
    var bar = el("progress");
    var count = el("span");
    count.dataset.field = "progress";
    progress.append(bar, count);
    var error = el("p", "error-box");
    error.dataset.field = "error";
    var loss = el("figure", "loss-chart");
    loss.dataset.field = "loss_curve";
    loss.dataset.points = "0";
    loss.hidden = true;
    var lossImage = el("img");
    lossImage.alt = "Training and validation loss of " + run.id;
    loss.append(lossImage);
    var events = el("ol", "events");
    events.dataset.field = "events";
    card.append(title, meta, progress, error, loss, events);
    return card;
  }

  function field(card, name) { return card.querySelector('[data-field="' + name + '"]'); }

  function showEvents(list, events) {
    list.replaceChildren();
    (events || []).slice(-8).forEach(function (event) {
      list.append(el("li", "level-" + event.level, event.at.replace("T", " ").slice(0, 19) + " " + event.message));
    });
  }

  function updateLossChart(card, run) {
    var figure = field(card, "loss_curve");
    var points = String((run.loss_curve || []).length);
    if (points === "0" || figure.dataset.points === points) { return; }
    figure.dataset.points = points;
    figure.querySelector("img").src = root.dataset.lossUrl.replace("__RUN__", encodeURIComponent(run.id)) +
      "?v=" + points;
    figure.hidden = false;
  }

  function updateRun(card, run) {
    setStatus(field(card, "status"), run.status);
    field(card, "job_id").textContent = run.job_id || "–";
    field(card, "job_status").textContent = run.job_status || "–";
    field(card, "fine_tuned_model").textContent = run.fine_tuned_model || "–";
    var progress = run.progress || {};
    var bar = card.querySelector("progress");
    bar.max = progress.total || 1;
    bar.value = progress.done || 0;
    field(card, "progress").textContent = (progress.done || 0) + "/" + (progress.total || "?");
    var error = field(card, "error");
    error.textContent = run.error || "";
    error.hidden = !run.error;
    showEvents(field(card, "events"), run.events);
    updateLossChart(card, run);
  }

  function refreshResults() {
    return fetch(root.dataset.resultsUrl, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error("results " + response.status); }
      return response.text();
    }).then(function (html) {
      var parsed = new DOMParser().parseFromString(html, "text/html");
      document.getElementById("results").replaceChildren.apply(
        document.getElementById("results"), Array.prototype.slice.call(parsed.body.childNodes));
    });
  }

  function render(record) {
    setStatus(document.getElementById("exp-status"), record.status);
    root.dataset.status = record.status;
    var expError = document.getElementById("exp-error");
    expError.textContent = record.error || "";
    expError.hidden = !record.error;
    showEvents(document.getElementById("exp-events"), record.events);
    document.getElementById("cancel-form").hidden = FINISHED.indexOf(record.status) >= 0;
    var container = document.getElementById("runs");
    record.runs.forEach(function (run) {
      var card = container.querySelector('[data-run-id="' + CSS.escape(run.id) + '"]');
      if (!card) { card = runCard(run); container.append(card); }
      updateRun(card, run);
    });
    var scored = record.runs.filter(function (run) { return run.metrics; }).length;
    var done = FINISHED.indexOf(record.status) >= 0;
    var pending = scored !== scoredRuns || (done && root.dataset.resultsFinal !== "1");
    scoredRuns = scored;
    if (done) { root.dataset.resultsFinal = "1"; }
    return pending ? refreshResults() : Promise.resolve();
  }

  function poll() {
    fetch(root.dataset.apiUrl + "?predictions=0", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(render)
      .then(function () {
        if (FINISHED.indexOf(root.dataset.status) < 0) { window.setTimeout(poll, pollMs); }
        else { root.dataset.live = "done"; }
      })
      .catch(function () { window.setTimeout(poll, pollMs * 2); });
  }

  scoredRuns = document.querySelectorAll("#comparison tbody tr").length;
  if (FINISHED.indexOf(root.dataset.status) >= 0) { root.dataset.live = "done"; } else { poll(); }
}());
