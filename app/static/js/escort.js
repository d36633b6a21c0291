/* The escort's tablet: stream GPS over /device with the login session, move the trip
   through its statuses, and keep everything in a persisted queue while offline. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var labels = page.status_labels;
  // A tablet may be shared: what is queued is kept per escort (by user id) and only ever sent
  // on that escort's own connection; a panic of another escort goes with their voucher.
  var QUEUE = "escort.queue.v2.";      // + user id: fixes not yet acknowledged, oldest first
  var PENDING = "escort.pending.v2.";  // + user id: status changes made while offline
  var PANICS = "escort.panics.v2.";    // + user id: panics pressed while offline, each with its voucher
  var QUEUE_KEY = QUEUE + page.user_id, PENDING_KEY = PENDING + page.user_id, PANIC_KEY = PANICS + page.user_id;
  var SEQ_KEY = "escort.seq.v1";
  var LEGACY_PANIC_KEY = "escort.panic.v1";
  var ACK_TIMEOUT_MS = 5000;
  var CHUNK = 200;
  var TERMINAL = { no_show: true, cancelled: true, incident: true };
  var SUGGEST = { arrived_pickup: "arrived_pickup", arrived_dropoff: "arrived_dropoff" };

  var state = { trip: page.trip, sent: 0, flushing: false, confirming: null };
  window.escortState = state;

  function load(key) { try { return JSON.parse(localStorage.getItem(key)) || []; } catch (e) { return []; } }
  function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
  function $(id) { return document.getElementById(id); }
  function message(text) { var el = $("escort-message"); if (el) el.textContent = text || ""; }
  // The page's one polite live region: status changes, reminders, medication and arrival suggestions.
  function announce(text) { var el = $("checkin-announce"); if (el) el.textContent = text; }
  var map = window.escortMap || { trip: function () {}, position: function () {} };
  var alive = window.escortAlive || { trip: function () {}, battery: function () { return {}; } };

  // seq must rise per device across reloads: milliseconds, bumped past the last one used.
  function nextSeq() {
    var last = Number(localStorage.getItem(SEQ_KEY) || 0);
    var seq = Math.max(Date.now(), last + 1);
    localStorage.setItem(SEQ_KEY, String(seq));
    return seq;
  }

  function showCounts() {
    $("fixes-sent").textContent = String(state.sent);
    $("fixes-queued").textContent = String(load(QUEUE_KEY).length);
    var others = othersQueued(), el = $("others-queued");
    el.hidden = !others;
    el.textContent = others ? others + " items queued by another escort, sent when they log in" : "";
  }

  // The user ids of other escorts with something queued on this tablet, by storage key prefix.
  function otherKeys(prefix) {
    var keys = [];
    for (var i = 0; i < localStorage.length; i++) {
      var key = localStorage.key(i);
      if (key.indexOf(prefix) === 0 && key !== prefix + page.user_id) keys.push(key);
    }
    return keys;
  }

  function othersQueued() {
    return [QUEUE, PENDING, PANICS].reduce(function (n, prefix) {
      return n + otherKeys(prefix).reduce(function (m, key) { return m + load(key).length; }, 0);
    }, 0);
  }

  // ---- trip and status buttons ------------------------------------------------------------

  function renderTrip() {
    var trip = state.trip;
    var statusEl = $("trip-status");
    if (!trip || !statusEl) return;
    map.trip(trip);
    alive.trip(trip);
    statusEl.dataset.status = trip.status;
    statusEl.textContent = labels[trip.status] || trip.status;
    var etaEl = $("trip-eta");
    if (etaEl) etaEl.textContent = etaText(trip);
    var box = $("status-buttons");
    box.textContent = "";
    trip.allowed_next.forEach(function (status) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "status-btn" + (TERMINAL[status] ? " terminal" : "");
      b.dataset.status = status;
      b.textContent = labels[status] || status;
      b.addEventListener("click", function () { onStatusButton(b, status); });
      box.appendChild(b);
    });
  }

  // The ETA in words, with how it was reckoned when the trip data says so (eta_source: "road" from the
  // router's route or leg, "straight line" when the router was not at hand); "" with no ETA.
  var ETA_SOURCE = { road: "by road", "straight line": "straight line, no road route" };
  function etaText(trip) {
    var at = trip && trip.eta_at ? new Date(trip.eta_at) : null;
    if (!at || isNaN(at)) return "";
    var how = trip.eta_source ? " (" + (ETA_SOURCE[trip.eta_source] || String(trip.eta_source)) + ")" : "";
    return "ETA " + clockTime(at) + (trip.eta_to === "pickup" ? " at pickup, " : " at drop-off, ") +
      ((trip.left_m || 0) / 1000).toFixed(1) + " km left" + how;
  }
  window.escortEtaText = etaText;

  // A terminal step needs a second tap within 4 s (no window.confirm: gloves, tests, hurry).
  function onStatusButton(button, status) {
    if (TERMINAL[status] && state.confirming !== status) {
      state.confirming = status;
      button.classList.add("confirming");
      button.textContent = "Tap again: " + (labels[status] || status);
      setTimeout(function () { if (state.confirming === status) { state.confirming = null; renderTrip(); } }, 4000);
      return;
    }
    state.confirming = null;
    if (status === "completed" && page.pins_set) { askEndPin(); return; }
    sendStatus({ trip_id: state.trip.id, status: status });
  }

  // Ending a trip asks for the PIN; the duress PIN ends it the same way on this screen.
  function askEndPin() {
    var form = $("end-form");
    form.hidden = false;
    $("end-pin").focus();
  }

  function setupEndForm() {
    var form = $("end-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var pin = $("end-pin").value;
      $("end-pin").value = "";
      form.hidden = true;
      sendStatus({ trip_id: state.trip.id, status: "completed", pin: pin });
    });
  }

  function setupPinsForm() {
    var form = $("pins-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var current = $("pins-current");
      var data = { safe: $("pins-safe").value, duress: $("pins-duress").value };
      if (current && !current.disabled) data.current = current.value;
      [current, $("pins-safe"), $("pins-duress")].forEach(function (el) { if (el) el.value = ""; });
      socket.timeout(ACK_TIMEOUT_MS).emit("set_pins", data, function (err, ack) {
        $("pins-result").textContent = err ? "No answer from dispatch; try again." : (ack.ok ? "PINs saved." : ack.error);
        if (!err && ack.ok) pinsNowSet();
      });
    });
  }

  // PINs set during a trip: ending it now asks for the PIN, and a change needs the current one (no reload).
  function pinsNowSet() {
    page.pins_set = true;
    var current = $("pins-current");
    $("pins-current-field").hidden = false;
    current.disabled = false;
    current.required = true;
  }

  var statusAsked = false;  // this tablet's own status change awaits its answer
  function sendStatus(change) {
    if (!socket.connected) {
      var pending = load(PENDING_KEY);
      pending.push(change);
      save(PENDING_KEY, pending);
      message("Offline: the status change will be sent when the connection returns.");
      return;
    }
    statusAsked = true;
    socket.timeout(ACK_TIMEOUT_MS).emit("status", change, function (err, ack) {
      statusAsked = false;
      if (err) { message("No answer from dispatch; try again."); return; }
      if (!ack.ok) { message(ack.error); return; }
      message("");
      $("suggestion").hidden = true;
      state.trip = ack.trip;
      renderTrip();
      setCheckinDue(ack.trip.checkin_due_at);
      // The pressed button is gone with the old status: focus goes to the new status, which is said aloud.
      $("trip-status").focus();
      announce("Status: " + (labels[ack.trip.status] || ack.trip.status) + ".");
    });
  }

  function flushPending() {
    var pending = load(PENDING_KEY);
    save(PENDING_KEY, []);
    pending.forEach(sendStatus);
  }

  // ---- fixes and the offline queue -------------------------------------------------------

  function enqueue(fix) {
    var queue = load(QUEUE_KEY);
    queue.push(fix);
    save(QUEUE_KEY, queue);
    showCounts();
  }

  function removeFromQueue(seqs) {
    var done = {};
    seqs.forEach(function (s) { done[s] = true; });
    save(QUEUE_KEY, load(QUEUE_KEY).filter(function (f) { return !done[f.seq]; }));
  }

  // Anything queued goes first, in order, so the server sees the track as it was driven.
  function flushQueue() {
    if (state.flushing || !socket.connected) return;
    var queue = load(QUEUE_KEY);
    if (!queue.length) { flushPending(); return; }
    state.flushing = true;
    var chunk = queue.slice(0, CHUNK);
    socket.timeout(ACK_TIMEOUT_MS * 2).emit("fixes", chunk, function (err, ack) {
      state.flushing = false;
      if (err || !ack.ok) { showCounts(); return; } // still offline: keep everything
      var handled = ack.accepted.concat(ack.rejected.map(function (r) { return r.seq; }));
      removeFromQueue(handled);
      state.sent += ack.accepted.length;
      showCounts();
      flushQueue();
    });
  }

  function sendFix(fix) {
    if (!socket.connected || load(QUEUE_KEY).length) { enqueue(fix); flushQueue(); return; }
    socket.timeout(ACK_TIMEOUT_MS).emit("fix", fix, function (err, ack) {
      if (err) { enqueue(fix); return; }
      if (ack.ok) state.sent += 1; else message("A position was refused: " + ack.error);
      showCounts();
    });
  }

  function onPosition(pos) {
    if (state.sharing === false) return;  // off duty with no trip (escort-line.js): nothing is sent
    var c = pos.coords;
    var fix = { seq: nextSeq(), lat: c.latitude, lon: c.longitude, ts: new Date(pos.timestamp).toISOString(),
                accuracy_m: c.accuracy, speed_mps: c.speed === null ? null : c.speed,
                heading_deg: c.heading === null || isNaN(c.heading) ? null : c.heading };
    Object.assign(fix, alive.battery());  // battery_pct and charging, where the browser tells
    state.lastLat = c.latitude;
    state.lastLon = c.longitude;
    $("gps-status").textContent = "sending (±" + Math.round(c.accuracy) + " m)";
    $("gps-help").hidden = true;
    map.position(c.latitude, c.longitude);
    sendFix(fix);
  }

  var GPS_HELP = "Location is blocked for this page, so dispatch cannot see where you are. To allow it: tap the " +
    "lock or \u24D8 sign beside the web address, open Permissions (or Site settings), set Location to Allow, then " +
    "reload this page. Also check that Location is on in the tablet's settings (on an iPad: Settings, Privacy, " +
    "Location Services, your browser: While Using the App).";

  function onGeoError(err) {
    $("gps-status").textContent = err.code === 1 ? "GPS denied" : "waiting for GPS";
    var help = $("gps-help");
    if (err.code === 1 && help.hidden) { help.textContent = GPS_HELP; help.hidden = false; }
  }

  // ---- connection -----------------------------------------------------------------------

  var conn = $("conn-status");
  // The page names its escort: the server refuses the connection if the login is now someone else's.
  var socket = io("/device", { transports: ["websocket", "polling"], auth: { user_id: page.user_id } });
  state.socket = socket;  // the line to dispatch (escort-line.js) talks on this connection
  socket.on("connect", function () {
    conn.textContent = "online"; conn.className = "live";
    sendQueuedPanics();  // before anything else
    flushQueue();
  });
  // The server reminds once per due time; the page counts down to it and sounds the reminder.
  socket.on("checkin_due", function (due) {
    if (state.trip && due.trip_id !== state.trip.id) return;
    setCheckinDue(due.due_at);
    remind("Check-in due at " + clockTime(checkin.dueAt) + ". Enter your PIN to check in.");
  });
  socket.on("medication_due", function (m) {
    var el = $("suggestion");
    el.hidden = false;
    el.textContent = "Medication due now: " + m.medication + " " + m.dose + ".";
    announce(el.textContent);
  });
  socket.on("suggest", function (s) {
    var status = SUGGEST[s.kind];
    if (!status || !state.trip || state.trip.allowed_next.indexOf(status) < 0) return;
    var el = $("suggestion");
    el.hidden = false;
    el.textContent = (labels[status] || status) + "? Tap the button to confirm.";
    announce(el.textContent);
  });
  socket.on("disconnect", function () { conn.textContent = "offline"; conn.className = "offline"; });
  socket.on("connect_error", function (err) {
    conn.textContent = "offline"; conn.className = "offline";
    if (err && /another escort/.test(err.message)) location.reload(); // show the page of whoever is logged in now
  });
  // Reassigned to another escort (issue #14): this tablet drops the trip and shows what is next.
  socket.on("trip_withdrawn", function (gone) {
    if (state.trip && gone.id === state.trip.id) location.reload();
  });
  socket.on("trip", function (trip) {
    if (!state.trip) { location.reload(); return; } // a trip was assigned: show it (the queue is kept)
    if (trip.id !== state.trip.id) return;
    var changed = trip.status !== state.trip.status;
    state.trip = trip;
    renderTrip();
    setCheckinDue(trip.checkin_due_at);
    // Changed by dispatch: said aloud, and focus stays where the escort left it (the map, a link).
    // Changed by this tablet's own button, whose answer may come after this event: the button is
    // gone with the old status, so focus goes to the new status rather than falling to the page.
    if (changed) {
      var lost = !document.activeElement || document.activeElement === document.body;
      if (lost && statusAsked) $("trip-status").focus({ preventScroll: true });
      announce("Status: " + (labels[trip.status] || trip.status) + ".");
    }
  });

  // ---- safety: silent panic and PIN check-in --------------------------------------------

  // Hold-to-send: a short tap does nothing, and nothing on screen changes either way.
  function setupPanic() {
    var button = $("panic");
    if (!button) return;
    window.escortSos.hold(button, function fire() {
      var payload = { ts: new Date().toISOString(), lat: state.lastLat, lon: state.lastLon };
      if (socket.connected) {
        socket.timeout(ACK_TIMEOUT_MS).emit("panic", payload, function (err) { if (err) queuePanic(payload); });
      } else {
        queuePanic(payload);
      }
    });
  }

  // Kept with this escort's voucher, so it can be sent as theirs whoever logs in next.
  function queuePanic(payload) {
    var panics = load(PANIC_KEY);
    panics.push({ user_id: page.user_id, ts: payload.ts, lat: payload.lat, lon: payload.lon, voucher: document.querySelector("meta[name=panic-voucher]").content });
    save(PANIC_KEY, panics);
    showCounts();
  }

  function dropPanic(key, ts) {
    save(key, load(key).filter(function (p) { return p.ts !== ts; }));
    showCounts();
  }

  // This escort's panics go on their own connection; a panic is removed only once acknowledged.
  function sendQueuedPanics() {
    load(PANIC_KEY).forEach(function (p) {
      socket.timeout(ACK_TIMEOUT_MS).emit("panic", { ts: p.ts, lat: p.lat, lon: p.lon }, function (err) {
        if (!err) dropPanic(PANIC_KEY, p.ts);
      });
    });
    sendOthersPanics();
    sendLegacyPanic();
  }

  // A panic queued before queues were kept per escort names no one: better sent late on this
  // login (dispatch sees the tablet and the time) than never.
  function sendLegacyPanic() {
    var raw = localStorage.getItem(LEGACY_PANIC_KEY);
    if (!raw) return;
    socket.timeout(ACK_TIMEOUT_MS).emit("panic", JSON.parse(raw), function (err) {
      if (!err) localStorage.removeItem(LEGACY_PANIC_KEY);
    });
  }

  // Another escort's panic goes with their voucher: dispatch records it as theirs, once.
  function sendOthersPanics() {
    var csrf = document.querySelector("meta[name=csrf-token]").content;
    otherKeys(PANICS).forEach(function (key) {
      load(key).forEach(function (p) {
        fetch("/api/v1/queued-panics", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(p)
        }).then(function (resp) { if (resp.ok) dropPanic(key, p.ts); }).catch(function () { /* offline: kept */ });
      });
    });
  }

  // The safe and the duress PIN get the same answer and the same page: only dispatch knows.
  function setupCheckin() {
    var form = $("checkin-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = $("checkin-pin");
      var pin = input.value;
      input.value = "";
      if (!socket.connected) { $("checkin-result").textContent = "Offline: check in again when the connection returns."; return; }
      socket.timeout(ACK_TIMEOUT_MS).emit("checkin", { pin: pin }, function (err, ack) {
        if (err) { $("checkin-result").textContent = "No answer from dispatch; try again."; return; }
        $("checkin-result").textContent = ack.ok ? "Checked in. Thank you." : ack.error;
        if (ack.ok) setCheckinDue(null);  // the next one comes with the trip or the next reminder
      });
    });
  }

  // ---- check-in countdown and reminders ---------------------------------------------------

  var SILENT_KEY = "escort.silent-reminders.v1";
  var checkin = { dueAt: null, timer: null, announcedDue: null, audio: null };

  function clockTime(date) { return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

  function setCheckinDue(iso) {
    var when = iso ? new Date(iso) : null;
    checkin.dueAt = when && !isNaN(when) ? when : null;
    clearInterval(checkin.timer);
    checkin.timer = checkin.dueAt ? setInterval(tickCheckin, 1000) : null;
    tickCheckin();
  }

  // The visible countdown changes every second and is not announced; the polite live region
  // says it once when a reminder comes and once when the time is up.
  function tickCheckin() {
    var el = $("checkin-due");
    if (!el) return;
    if (!checkin.dueAt) { el.hidden = true; el.textContent = ""; return; }
    var left = Math.round((checkin.dueAt - Date.now()) / 1000);
    el.hidden = false;
    el.classList.toggle("overdue", left <= 0);
    if (left > 0) {
      el.textContent = "Next check-in in " + Math.floor(left / 60) + " min " + String(left % 60).padStart(2, "0") + " s (by " + clockTime(checkin.dueAt) + ")";
      return;
    }
    el.textContent = "Check-in due now: enter your PIN";
    if (checkin.announcedDue !== checkin.dueAt.getTime()) {
      checkin.announcedDue = checkin.dueAt.getTime();
      $("checkin-announce").textContent = "Check-in due now. Enter your PIN to check in.";
    }
  }

  function silent() { return localStorage.getItem(SILENT_KEY) === "1"; }

  function remind(text) {
    $("checkin-announce").textContent = text;
    if (silent()) return;
    if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
    beep();
  }

  // Two short tones from the Web Audio API: no sound file to fetch, works offline.
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      var ctx = checkin.audio || (checkin.audio = new Ctx());
      if (ctx.state === "suspended") ctx.resume();
      [0, 0.35].forEach(function (offset) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.25;
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(ctx.currentTime + offset);
        osc.stop(ctx.currentTime + offset + 0.2);
      });
    } catch (e) { /* no sound on this device: the text and vibration still tell */ }
  }

  function setupSilentSwitch() {
    var box = $("silent-reminders");
    if (!box) return;
    box.checked = silent();
    box.addEventListener("change", function () { localStorage.setItem(SILENT_KEY, box.checked ? "1" : "0"); });
  }

  // Times arrive as UTC ISO-8601; the escort reads them in the tablet's own time zone.
  Array.prototype.forEach.call(document.querySelectorAll("time.local-time"), function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) el.textContent = when.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
  });

  // The page loads offline too (a reload in a tunnel keeps the trip and the queue); logging
  // out drops the cached copy, which names the patient.
  function setupOffline() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/escort-sw.js", { scope: "/escort" }).catch(function () {});
    var logout = document.querySelector("form.logout");
    if (logout) logout.addEventListener("submit", function () {
      if (navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage("logout");
    });
  }

  // The escort's other screens (the patient sheet) queue an offline panic with this voucher.
  try { localStorage.setItem("escort.voucher." + page.user_id, document.querySelector("meta[name=panic-voucher]").content); } catch (e) { /* full */ }
  setupPanic();
  setupCheckin();
  setupEndForm();
  setupPinsForm();
  setupOffline();
  setupSilentSwitch();
  setCheckinDue(state.trip && state.trip.checkin_due_at);
  renderTrip();
  showCounts();
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(onPosition, onGeoError, { enableHighAccuracy: true, maximumAge: 0 });
  } else {
    $("gps-status").textContent = "no GPS on this device";
  }
})();
