// The admin's log viewer: earlier parts on demand, new output while the command runs.
// The text arrives as text/plain and is inserted as text, never as HTML.
(function () {
  "use strict";
  function start(viewer) {
    var pre = viewer.querySelector("pre");
    var earlier = viewer.querySelector(".jp-earlier");
    var url = viewer.dataset.url;
    var first = Number(viewer.dataset.start);
    var next = Number(viewer.dataset.end);
    var active = viewer.dataset.active === "1";
    if (earlier) {
      earlier.addEventListener("click", function () {
        fetch(url + "?before=" + first, {credentials: "same-origin"})
          .then(function (r) { first = Number(r.headers.get("X-Log-Start")); return r.text(); })
          .then(function (text) {
            pre.insertBefore(document.createTextNode(text), pre.firstChild);
            earlier.hidden = first === 0;
          });
      });
    }
    function follow() {
      fetch(url + "?after=" + next, {credentials: "same-origin"})
        .then(function (r) {
          next = Number(r.headers.get("X-Log-Next"));
          active = r.headers.get("X-Log-Active") === "1";
          return r.text();
        })
        .then(function (text) {
          if (text) { pre.appendChild(document.createTextNode(text)); }
          if (active || text) { setTimeout(follow, text ? 200 : 2000); }
        });
    }
    if (active) { setTimeout(follow, 2000); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".jp-log").forEach(start);
  });
})();
