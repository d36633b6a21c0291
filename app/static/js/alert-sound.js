/* Alert sounds, shared by the live map, the board and the trip page (templates/dispatch/_alert_sound.html).
   A chime for each new alert; panic, duress and wrong PINs sound louder and again every few seconds
   until someone acknowledges them. Browsers keep audio locked until the page is used: the first
   click or key (or the "Turn on alert sounds" button) unlocks it, and asks once for desktop notices. */
(function () {
  "use strict";

  var URGENT = { panic: true, duress: true, pin_attempts: true };
  var MEDIUM = { missed_checkin: true, signal_lost: true, hazard_zone: true, medication_due: true };
  var REPEAT_MS = 3000;
  var audio = null, timer = null, known = {}, urgentOpen = {};
  // What was sounded, newest last (kinds; "alarm" for a repeat): the page's tests read it.
  var played = [];

  function setState(words) {
    var el = document.getElementById("sound-state");
    if (el && el.textContent !== words) el.textContent = words;
  }

  function unlock() {
    if (!audio) {
      try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended") audio.resume();
    if (window.Notification && Notification.permission === "default" && Notification.requestPermission) {
      try { Notification.requestPermission(); } catch (e) { /* older browsers: callback form only */ }
    }
    var ask = document.getElementById("sound-on");
    if (ask && audio) { ask.hidden = true; setState("Alert sounds on"); }
  }
  document.addEventListener("click", unlock, true);
  document.addEventListener("keydown", unlock, true);

  function tone(freq, seconds, loud) {
    if (!audio || audio.state !== "running") return;
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = loud ? "square" : "sine";
    osc.frequency.value = freq;
    gain.gain.value = loud ? 0.6 : 0.15;
    osc.connect(gain);
    gain.connect(audio.destination);
    var t = audio.currentTime;
    osc.start(t);
    osc.stop(t + seconds);
  }

  function isUrgent(kind) { return !!URGENT[kind]; }

  // One sound for one alert: urgent kinds a loud two-tone, others a soft tone by severity.
  function chime(kind, repeat) {
    played.push(repeat ? "alarm" : kind);
    if (played.length > 50) played.shift();
    if (isUrgent(kind)) {
      tone(988, 0.3, true);
      window.setTimeout(function () { tone(740, 0.3, true); }, 350);
      window.setTimeout(function () { tone(988, 0.3, true); }, 700);
    } else if (MEDIUM[kind]) { tone(660, 0.3, false); }
    else { tone(523, 0.2, false); }
  }

  // The repeating alarm, on while any urgent alert is open (not yet acknowledged).
  function alarm(on) {
    if (on && !timer) timer = window.setInterval(function () { chime("panic", true); }, REPEAT_MS);
    if (!on && timer) { window.clearInterval(timer); timer = null; }
    document.documentElement.dataset.alarm = on ? "on" : "off";
  }

  // Tell the sound about an alert as the server sends it: a new open alert chimes (unless
  // ``quiet``: a snapshot of what was already there), and urgent open ones keep the alarm on.
  function observe(copy, quiet) {
    var alert = window.EscortAlertLedger.take(copy);  // a late copy never turns the alarm back on
    var isNew = !known[alert.id];
    known[alert.id] = true;
    if (isUrgent(alert.kind) && alert.state === "open") urgentOpen[alert.id] = true;
    else delete urgentOpen[alert.id];
    if (isNew && !quiet && alert.state === "open") chime(alert.kind);
    alarm(Object.keys(urgentOpen).length > 0);
  }

  // A snapshot replaces what the page knows: alerts in it that are new since the last one chime.
  var snapshots = 0;
  function snapshot(alerts) {
    var first = snapshots++ === 0;
    urgentOpen = {};
    (alerts || []).forEach(function (a) { observe(a, first); });
    alarm(Object.keys(urgentOpen).length > 0);
  }

  var button = document.getElementById("sound-on");
  if (button) button.addEventListener("click", unlock);
  window.EscortAlertSound = { observe: observe, snapshot: snapshot, chime: chime, alarm: alarm, isUrgent: isUrgent,
                              unlock: unlock, played: played };
})();
