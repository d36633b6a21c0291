/* The SOS control of every escort screen: held for two seconds by a finger, the mouse, or the
   Space or Enter key (a keyboard or a switch), it calls fire(); letting go early cancels.
   Nothing on screen changes either way. */
(function () {
  "use strict";

  var HOLD_MS = 2000;

  function isHoldKey(ev) { return ev.key === " " || ev.key === "Enter" || ev.key === "Spacebar"; }

  function hold(button, fire) {
    var timer = null;
    function start(ev) { ev.preventDefault(); if (!timer) timer = setTimeout(function () { timer = null; fire(); }, HOLD_MS); }
    function cancel() { clearTimeout(timer); timer = null; }
    ["pointerdown", "touchstart"].forEach(function (e) { button.addEventListener(e, start); });
    ["pointerup", "pointerleave", "pointercancel", "touchend", "blur"].forEach(function (e) { button.addEventListener(e, cancel); });
    // A held key repeats its keydown: only the first starts the count.
    button.addEventListener("keydown", function (ev) { if (isHoldKey(ev)) { ev.preventDefault(); if (!ev.repeat) start(ev); } });
    button.addEventListener("keyup", function (ev) { if (isHoldKey(ev)) { ev.preventDefault(); cancel(); } });
    button.addEventListener("contextmenu", function (ev) { ev.preventDefault(); });
  }

  window.escortSos = { hold: hold, HOLD_MS: HOLD_MS };
})();
