// The status page of a command: shows the log tail from its end and, while the command is
// active, reads the API's event stream (/api/v1/commands/<id>/events/, server-sent events,
// authenticated by the session): it moves the progress bar, appends new log output, and
// asks the server for the status block again (htmx) when the status itself changes, so
// every word on the page comes from the server.
//
// The page never holds a whole big log: past LIMIT characters of output the oldest are
// dropped, and when the log has run more than JUMP bytes ahead of what arrived, the stream
// starts again near the end. Either way "Load earlier output" reaches back from the first
// byte shown, one part at a time.
(function () {
  "use strict";
  var LIMIT = 1000000;
  var JUMP = 1048576;
  var TAIL = 65536;
  var script = document.currentScript;
  var log = document.getElementById("log");
  if (!script || !log) return;
  log.scrollTop = log.scrollHeight; // the tail starts at the end
  if (script.dataset.live !== "true" || !window.EventSource) return;
  var terminal = JSON.parse(document.getElementById("terminal-statuses").textContent);
  var shown = script.dataset.status + "|" + script.dataset.throttled;
  var parts = document.getElementById("log-parts");
  var live = document.getElementById("log-live");
  var liveChars = 0;
  var received = Number(script.dataset.offset);
  var source = null;

  function refreshSummary() {
    if (window.htmx) {
      htmx.ajax("GET", script.dataset.summary, { target: "#summary", swap: "outerHTML" });
    }
  }

  function setEarlier(before) {
    var button = document.createElement("button");
    button.type = "button";
    button.id = "log-earlier";
    button.className = "small";
    button.setAttribute("hx-get", script.dataset.log + "?before=" + before);
    button.setAttribute("hx-target", "#log-parts");
    button.setAttribute("hx-swap", "afterbegin");
    button.textContent = "Load earlier output";
    var old = document.getElementById("log-earlier");
    if (old) old.replaceWith(button);
    else log.parentNode.insertBefore(button, log);
    if (window.htmx) htmx.process(button);
  }

  function trim() {
    if (liveChars <= LIMIT) return;
    parts.textContent = "";
    while (liveChars > LIMIT / 2 && live.firstChild) {
      liveChars -= live.firstChild.textContent.length;
      live.removeChild(live.firstChild);
    }
    if (live.firstChild) setEarlier(live.firstChild.dataset.offset);
  }

  function onStatus(event) {
    var row = JSON.parse(event.data);
    var bar = document.getElementById("progress");
    if (bar) bar.value = row.progress;
    var text = document.getElementById("progress-text");
    if (text) {
      var words = row.progress + "%";
      if (row.steps_total) words += " · " + (row.steps_ready || 0) + " of " + row.steps_total + " steps";
      text.textContent = words;
    }
    if (row.log_size - received > JUMP) {
      // Far behind: show the end, not everything in between.
      var start = row.log_size - TAIL;
      parts.textContent = "";
      live.textContent = "";
      liveChars = 0;
      received = start;
      setEarlier(start);
      connect(start);
    }
    var key = row.status + "|" + row.throttled;
    if (key !== shown) {
      shown = key;
      refreshSummary();
    }
  }

  function onLog(event) {
    var part = JSON.parse(event.data);
    var follow = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    var span = document.createElement("span");
    span.dataset.offset = part.offset;
    span.textContent = part.data;
    live.appendChild(span);
    liveChars += part.data.length;
    received = Number(event.lastEventId) || received;
    trim();
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function onEnd(event) {
    var data = JSON.parse(event.data);
    if (terminal.indexOf(data.status) >= 0) {
      source.close();
      var note = document.getElementById("log-follow");
      if (note) note.textContent = "The command has ended.";
      refreshSummary();
    }
    // Otherwise the stream reached its time limit: EventSource reconnects by itself and
    // resumes after the last log event it saw (Last-Event-ID).
  }

  // A stream refused (the account's open streams are capped) or broken for good: ask for
  // the status block every few seconds instead, until the command has ended.
  function onError() {
    if (source.readyState !== EventSource.CLOSED) return; // EventSource retries by itself
    var timer = setInterval(function () {
      var block = document.getElementById("summary");
      if (block && terminal.indexOf(block.dataset.status) >= 0) clearInterval(timer);
      else refreshSummary();
    }, 3000);
  }

  function connect(offset) {
    if (source) source.close();
    source = new EventSource(script.dataset.events + "?offset=" + offset);
    source.addEventListener("status", onStatus);
    source.addEventListener("log", onLog);
    source.addEventListener("end", onEnd);
    source.addEventListener("error", onError);
  }

  connect(received);
})();
