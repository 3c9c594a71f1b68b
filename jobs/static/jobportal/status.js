// The status page of a command: shows the log tail from its end and, while the command is
// active, reads the API's event stream
// (/api/v1/commands/<id>/events/, server-sent events, the session authenticates it),
// moves the progress bar, appends new log output, and asks the server for the status
// block again (htmx) when the status itself changes, so every word on the page comes
// from the server.
(function () {
  "use strict";
  var script = document.currentScript;
  var log = document.getElementById("log");
  if (!script || !log) return;
  log.scrollTop = log.scrollHeight;  // the tail starts at the end
  if (script.dataset.live !== "true" || !window.EventSource) return;
  var terminal = JSON.parse(document.getElementById("terminal-statuses").textContent);
  var shown = script.dataset.status + "|" + script.dataset.throttled;
  var live = document.getElementById("log-live");
  var source = new EventSource(script.dataset.events);

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  function refreshSummary() {
    if (window.htmx) {
      htmx.ajax("GET", script.dataset.summary, { target: "#summary", swap: "outerHTML" });
    }
  }

  source.addEventListener("status", function (event) {
    var row = JSON.parse(event.data);
    var bar = document.getElementById("progress");
    if (bar) bar.value = row.progress;
    var text = document.getElementById("progress-text");
    if (text) {
      var words = row.progress + "%";
      if (row.steps_total) words += " · " + (row.steps_ready || 0) + " of " + row.steps_total + " steps";
      text.textContent = words;
    }
    var key = row.status + "|" + row.throttled;
    if (key !== shown) {
      shown = key;
      refreshSummary();
    }
  });

  source.addEventListener("log", function (event) {
    var part = JSON.parse(event.data);
    var follow = nearBottom();
    live.appendChild(document.createTextNode(part.data));
    if (follow) log.scrollTop = log.scrollHeight;
  });

  // A stream refused (the account's open streams are capped) or broken for good: ask for
  // the status block every few seconds instead, until the command has ended.
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED) return;  // EventSource retries by itself
    var timer = setInterval(function () {
      var block = document.getElementById("summary");
      if (block && terminal.indexOf(block.dataset.status) >= 0) clearInterval(timer);
      else refreshSummary();
    }, 3000);
  });

  source.addEventListener("end", function (event) {
    var data = JSON.parse(event.data);
    if (terminal.indexOf(data.status) >= 0) {
      source.close();
      var note = document.getElementById("log-follow");
      if (note) note.textContent = "The command has ended.";
      refreshSummary();
    }
    // Otherwise the stream reached its time limit: EventSource reconnects by itself and
    // resumes after the last log event it saw (Last-Event-ID).
  });
})();
