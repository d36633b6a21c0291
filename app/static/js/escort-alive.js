/* Stay alive on a long trip: keep the screen on while a trip is under way, and know the battery
   level (sent with each fix, so dispatch sees it and a low battery raises an alert).
   escort.js calls window.escortAlive.trip(trip) and reads window.escortAlive.battery(). */
(function () {
  "use strict";

  // From leaving for the pickup until the trip ends, the screen stays on.
  var UNDER_WAY = { en_route_pickup: true, arrived_pickup: true, on_board: true, arrived_dropoff: true };
  var state = { lock: null, wanted: false, level: null, charging: null };

  function $(id) { return document.getElementById(id); }
  function say(id, words) { var el = $(id); if (el && el.textContent !== words) el.textContent = words; }

  // ---- screen wake lock --------------------------------------------------------------------

  function acquire() {
    if (!state.wanted || state.lock || document.visibilityState !== "visible") return;
    if (!("wakeLock" in navigator)) { say("wake-status", "may sleep (this browser cannot keep it on)"); return; }
    navigator.wakeLock.request("screen").then(function (lock) {
      state.lock = lock;
      say("wake-status", "kept on during the trip");
      // The browser drops the lock when the page is hidden: taken again on return (visibilitychange).
      lock.addEventListener("release", function () { state.lock = null; if (!state.wanted) say("wake-status", "may sleep"); });
      if (!state.wanted) release();
    }).catch(function () { say("wake-status", "may sleep (not allowed now)"); });
  }

  function release() {
    if (state.lock) { var lock = state.lock; state.lock = null; lock.release().catch(function () {}); }
    say("wake-status", "may sleep");
  }

  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") acquire(); });

  // ---- battery ----------------------------------------------------------------------------

  function showBattery() {
    if (state.level === null) return;
    say("battery-status", Math.round(state.level) + " %" + (state.charging ? ", charging" : ""));
  }

  function watchBattery() {
    if (!navigator.getBattery) return;  // Firefox and Safari: no Battery Status API, battery_pct stays unsent
    navigator.getBattery().then(function (battery) {
      function read() { state.level = battery.level * 100; state.charging = !!battery.charging; showBattery(); }
      read();
      battery.addEventListener("levelchange", read);
      battery.addEventListener("chargingchange", read);
    }).catch(function () {});
  }

  window.escortAlive = {
    trip: function (trip) {
      state.wanted = !!(trip && UNDER_WAY[trip.status]);
      if (state.wanted) acquire(); else release();
    },
    // {battery_pct, charging} for a fix, or {} where the browser cannot tell.
    battery: function () {
      return state.level === null ? {} : { battery_pct: Math.round(state.level * 10) / 10, charging: state.charging };
    },
    state: state
  };
  watchBattery();
})();
