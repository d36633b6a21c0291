/* The escort's tablet: stream GPS over /device with the login session, move the trip
   through its statuses, and keep everything in a persisted queue while offline. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var labels = page.status_labels;
  var QUEUE_KEY = "escort.queue.v1";      // fixes not yet acknowledged, oldest first
  var PENDING_KEY = "escort.pending.v1";  // status changes made while offline
  var SEQ_KEY = "escort.seq.v1";
  var ACK_TIMEOUT_MS = 5000;
  var CHUNK = 200;
  var TERMINAL = { no_show: true, cancelled: true, incident: true };

  var state = { trip: page.trip, sent: 0, flushing: false, confirming: null };
  window.escortState = state;

  function load(key) { try { return JSON.parse(localStorage.getItem(key)) || []; } catch (e) { return []; } }
  function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
  function $(id) { return document.getElementById(id); }
  function message(text) { var el = $("escort-message"); if (el) el.textContent = text || ""; }

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
  }

  // ---- trip and status buttons ------------------------------------------------------------

  function renderTrip() {
    var trip = state.trip;
    var statusEl = $("trip-status");
    if (!trip || !statusEl) return;
    statusEl.dataset.status = trip.status;
    statusEl.textContent = labels[trip.status] || trip.status;
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
    sendStatus({ trip_id: state.trip.id, status: status });
  }

  function sendStatus(change) {
    if (!socket.connected) {
      var pending = load(PENDING_KEY);
      pending.push(change);
      save(PENDING_KEY, pending);
      message("Offline: the status change will be sent when the connection returns.");
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit("status", change, function (err, ack) {
      if (err) { message("No answer from dispatch; try again."); return; }
      if (!ack.ok) { message(ack.error); return; }
      message("");
      state.trip = ack.trip;
      renderTrip();
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
    var c = pos.coords;
    var fix = { seq: nextSeq(), lat: c.latitude, lon: c.longitude, ts: new Date(pos.timestamp).toISOString(),
                accuracy_m: c.accuracy, speed_mps: c.speed === null ? null : c.speed,
                heading_deg: c.heading === null || isNaN(c.heading) ? null : c.heading };
    $("gps-status").textContent = "sending (±" + Math.round(c.accuracy) + " m)";
    sendFix(fix);
  }

  function onGeoError(err) {
    $("gps-status").textContent = err.code === 1 ? "GPS denied" : "waiting for GPS";
  }

  // ---- connection -----------------------------------------------------------------------

  var conn = $("conn-status");
  var socket = io("/device", { transports: ["websocket", "polling"] });
  socket.on("connect", function () { conn.textContent = "online"; conn.className = "live"; flushQueue(); });
  socket.on("disconnect", function () { conn.textContent = "offline"; conn.className = "offline"; });
  socket.on("connect_error", function () { conn.textContent = "offline"; conn.className = "offline"; });
  socket.on("trip", function (trip) {
    if (!state.trip) { location.reload(); return; } // a trip was assigned: show it (the queue is kept)
    if (trip.id === state.trip.id) { state.trip = trip; renderTrip(); }
  });

  renderTrip();
  showCounts();
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(onPosition, onGeoError, { enableHighAccuracy: true, maximumAge: 0 });
  } else {
    $("gps-status").textContent = "no GPS on this device";
  }
})();
