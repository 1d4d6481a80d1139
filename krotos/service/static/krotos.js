// Polls the job while it runs; once it has ended, the server renders the result.
(function () {
  "use strict";
  var node = document.getElementById("progress");
  if (!node) { return; }
  var url = node.getAttribute("data-poll");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (job.status === "finished" || job.status === "failed" || job.error) {
          window.location.reload();
          return;
        }
        var text = job.status === "queued" ? "waiting for a worker" : job.status;
        if (job.progress) {
          text += ": " + job.progress.tracks_done + " of " + job.progress.tracks_total + " tracks";
        }
        node.textContent = text;
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
