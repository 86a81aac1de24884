// New-experiment form: fill the prompt fields from the chosen preset, and refresh the class counts when the
// label column changes. Dataset text is only ever written with textContent.
(function () {
  "use strict";
  var form = document.getElementById("experiment-form");
  if (!form) { return; }

  var presets = JSON.parse(document.getElementById("presets-data").textContent);
  var presetSelect = document.getElementById("preset");
  presetSelect.addEventListener("change", function () {
    var preset = presets[presetSelect.value];
    if (!preset) { return; }
    document.getElementById("system_prompt").value = preset.system_prompt || "";
    document.getElementById("user_template").value = preset.user_template;
  });

  var labelSelect = document.getElementById("label_column");
  var textSelect = document.getElementById("text_column");
  var list = document.getElementById("class-counts");
  var note = document.getElementById("class-counts-note");

  function refreshCounts() {
    var url = labelSelect.dataset.summaryUrl + "?text_column=" + encodeURIComponent(textSelect.value) +
      "&label_column=" + encodeURIComponent(labelSelect.value);
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.json();
    }).then(function (body) {
      list.replaceChildren();
      if (body.error) { note.textContent = body.error; return; }
      Object.keys(body.class_counts).forEach(function (label) {
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = label;
        var count = document.createElement("span");
        count.className = "n";
        count.textContent = " " + body.class_counts[label];
        item.append(name, count);
        list.append(item);
      });
      note.textContent = body.n_items + " usable rows of " + body.n_rows +
        (body.dropped ? " (" + body.dropped + " with a blank text or label are left out)" : "") +
        ". Press Check to update the sampling counts.";
    }).catch(function () { note.textContent = "Could not load class counts; press Check."; });
  }
  labelSelect.addEventListener("change", refreshCounts);
  textSelect.addEventListener("change", refreshCounts);

  // The report above the Launch button describes the settings it was made for: once they change, check again.
  var launch = document.getElementById("launch-button");
  if (launch) {
    var staleReport = function () {
      launch.hidden = true;
      var report = document.getElementById("report");
      if (report) { report.classList.add("stale"); }
    };
    form.addEventListener("input", staleReport);
    form.addEventListener("change", staleReport);
  }
}());
