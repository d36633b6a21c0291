// A watched screen stays logged in; an ended session goes to the login page instead of a dead map.
//
// Staff sessions end after ESCORT_IDLE_LOGOUT_S without a request. A dispatcher watching the
// live map makes no requests, so the person's own input (pointer, keys, touch) is reported,
// at most once a minute, as a request to /api/v1/session. When the server drops a live
// connection, pages call EscortSession.check(): an ended session sends the browser to log in.
(function () {
  "use strict";
  var EVERY_MS = 60 * 1000;
  var last = 0;  // the first input after the page loads reports at once

  function toLogin() {
    var next = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(next));
  }

  function check() {
    return fetch("/api/v1/session", { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) { toLogin(); }
        return resp.ok;
      })
      .catch(function () { return false; });  // offline: the connection's own retry goes on
  }

  function active() {
    if (Date.now() - last < EVERY_MS) { return; }
    last = Date.now();
    check();
  }

  ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (kind) {
    window.addEventListener(kind, active, { passive: true, capture: true });
  });
  window.EscortSession = { check: check };
})();
