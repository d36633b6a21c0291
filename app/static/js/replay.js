/* A trip's log: the recorded track over the planned route, a time slider with play/pause,
   off-route stretches and stops marked, figures, a speed chart and the timeline following along. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var root = document.getElementById("replay");
  var slider = document.getElementById("replay-slider");
  var playBtn = document.getElementById("replay-play");
  var speedSel = document.getElementById("replay-speed");
  var clock = document.getElementById("replay-clock");
  var status = document.getElementById("replay-status");
  var timelineEl = document.getElementById("timeline");
  var chart = document.getElementById("trip-chart");
  var SVG = "http://www.w3.org/2000/svg";

  var map = L.map("replay-map", { preferCanvas: false }).setView([51.5, -0.12], 13);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);

  var data = null, times = [], t0 = 0, t1 = 0, now = 0, playing = false, lastFrame = null;
  var marker = null, items = [], cursor = null;
  var MOCKED = "Mocked location — not to be trusted";

  // A Leaflet tooltip given a string takes it as HTML; an element with text is taken as is.
  function textNode(content, cls) {
    var div = document.createElement("div");
    if (cls) div.className = cls;
    div.textContent = content;
    return div;
  }

  // A stored fix the phone marked as coming from a mock-location app: [lat, lon, t, speed, mock].
  function isMocked(row) { return !!row && (row[4] === true || row.mock === true); }

  // Times in the service's zone (ESCORT_TIMEZONE) to the second, and durations: times.js.
  var T = window.EscortTimes;
  function fmtTime(epochS) { return T.local(epochS, { date: false }); }
  function fmtDur(s) { return T.duration(s); }
  function fmtWhen(iso) { return T.local(iso); }
  function yesNo(v) { return v === null || v === undefined ? "–" : v ? "yes" : "no"; }

  // The index of the last fix at or before t (binary search over the fix times).
  function indexAt(t) {
    var lo = 0, hi = times.length - 1;
    if (hi < 0 || t < times[0]) return -1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  function positionAt(t) {
    var i = indexAt(t), track = data.track;
    if (i < 0) return { i: 0, lat: track[0][0], lon: track[0][1] };
    if (i >= track.length - 1 || times[i + 1] === times[i]) return { i: i, lat: track[i][0], lon: track[i][1] };
    var f = (t - times[i]) / (times[i + 1] - times[i]);
    return { i: i, lat: track[i][0] + f * (track[i + 1][0] - track[i][0]), lon: track[i][1] + f * (track[i + 1][1] - track[i][1]) };
  }

  function setTime(t) {
    now = Math.max(t0, Math.min(t1, t));
    slider.value = String(Math.round(now - t0));
    clock.textContent = fmtTime(now);
    if (data.track.length) {
      var p = positionAt(now);
      marker.setLatLng([p.lat, p.lon]);
      showMocked(isMocked(data.track[p.i]));
      root.dataset.index = String(p.i);
      root.dataset.lat = p.lat.toFixed(6);
      root.dataset.lon = p.lon.toFixed(6);
    }
    root.dataset.t = String(Math.round(now));
    followTimeline();
    if (cursor) {
      var x = chartX(now);
      cursor.setAttribute("x1", x); cursor.setAttribute("x2", x);
    }
  }

  // Mark what has happened by the slider's time; the latest item is current and kept in view.
  function followTimeline() {
    var current = null;
    items.forEach(function (it) {
      var past = it.t <= now + 0.5;
      it.el.classList.toggle("past", past);
      it.el.classList.remove("current");
      if (past) current = it;
    });
    if (current) {
      current.el.classList.add("current");
      timelineEl.dataset.current = String(current.id);
      var box = timelineEl, el = current.el;
      if (el.offsetTop < box.scrollTop || el.offsetTop + el.offsetHeight > box.scrollTop + box.clientHeight) {
        box.scrollTop = el.offsetTop - box.clientHeight / 3;
      }
    } else {
      delete timelineEl.dataset.current;
    }
  }

  function frame(ts) {
    if (!playing) return;
    if (lastFrame !== null) {
      var next = now + (ts - lastFrame) / 1000 * Number(speedSel.value);
      setTime(next);
      if (next >= t1) { pause(); }
    }
    lastFrame = ts;
    if (playing) window.requestAnimationFrame(frame);
  }
  function play() {
    if (now >= t1) setTime(t0);
    playing = true; lastFrame = null; playBtn.textContent = "Pause"; root.dataset.playing = "1";
    window.requestAnimationFrame(frame);
  }
  function pause() { playing = false; playBtn.textContent = "Play"; root.dataset.playing = "0"; }

  function drawMap() {
    var layers = L.featureGroup().addTo(map);
    var trip = data.trip;
    if (trip.pickup) L.circle([trip.pickup.lat, trip.pickup.lon], { radius: trip.pickup.radius_m, color: "#2e7d32", weight: 1 }).addTo(layers);
    if (trip.dropoff) L.circle([trip.dropoff.lat, trip.dropoff.lon], { radius: trip.dropoff.radius_m, color: "#6a1b9a", weight: 1 }).addTo(layers);
    if (data.route.length > 1) {
      L.polyline(data.route, { color: "#1f5fbf", weight: 5, opacity: 0.45, dashArray: "8 6", className: "planned-route" }).addTo(layers);
    }
    var latlngs = data.track.map(function (f) { return [f[0], f[1]]; });
    if (latlngs.length > 1) L.polyline(latlngs, { color: "#37474f", weight: 3, className: "driven-track" }).addTo(layers);
    data.off_route.forEach(function (s) {
      L.polyline(latlngs.slice(s.start_index, s.end_index + 1), { color: "#c62828", weight: 5, className: "off-route" })
        .bindTooltip(textNode("Off route " + fmtDur(s.duration_s) + ", up to " + Math.round(s.max_distance_m) + " m")).addTo(layers);
    });
    data.stops.forEach(function (s) {
      L.circleMarker([s.lat, s.lon], { radius: 8, color: "#b26a00", fillColor: "#ffb300", fillOpacity: 0.8, className: "stop-mark" })
        .bindTooltip(textNode("Stop " + fmtDur(s.duration_s) + " from " + fmtTime(s.t0))).on("click", function () { setTime(s.t0); })
        .addTo(layers);
    });
    if (latlngs.length) {
      marker = L.circleMarker(latlngs[0], { radius: 9, color: "#fff", weight: 3, fillColor: "#1f5fbf", fillOpacity: 1, className: "replay-marker" }).addTo(map);
    }
    // No animation: the marker must be placed on the final view, not one still zooming.
    if (layers.getLayers().length) map.fitBounds(layers.getBounds(), { padding: [20, 20], animate: false });
  }

  // The replay marker on a mocked fix: another style and the words, in its tooltip and the status line.
  function showMocked(mocked) {
    if (root.dataset.mocked === (mocked ? "1" : "0")) return;
    root.dataset.mocked = mocked ? "1" : "0";
    marker.setStyle(mocked ? { color: "#e65100", weight: 4, dashArray: "3 3" } : { color: "#fff", weight: 3, dashArray: null });
    var el = marker.getElement();
    if (el) el.classList.toggle("mocked", mocked);
    if (mocked) marker.bindTooltip(textNode(MOCKED, "mocked"), { permanent: true, direction: "top" }).openTooltip();
    else marker.unbindTooltip();
  }

  function drawFigures() {
    var f = data.figures, rows = [
      ["Pickup", fmtWhen(f.pickup_at) + " (scheduled " + fmtWhen(f.scheduled_pickup_at) + ")"],
      ["Pickup late or early", T.lateness(f.pickup_late_s) + " · on time: " + yesNo(f.pickup_on_time)],
      ["Drop-off", fmtWhen(f.dropoff_at) + (f.appointment_at ? " (appointment " + fmtWhen(f.appointment_at) + ")" : "")],
      ["Arrival late or early", T.lateness(f.dropoff_late_s) + " · on time: " + yesNo(f.arrival_on_time)],
      ["Distance planned / driven", (f.planned_distance_m / 1000).toFixed(2) + " / " + (f.driven_distance_m / 1000).toFixed(2) + " km"],
      ["Time off route", fmtDur(f.off_route_s) + " in " + f.off_route_count + " stretch" + (f.off_route_count === 1 ? "" : "es")],
      ["Stops", f.stop_count + ", " + fmtDur(f.stopped_s) + (f.longest_stop_s ? " (longest " + fmtDur(f.longest_stop_s) + ")" : "")],
      ["Alerts", f.alert_count + (f.mean_ack_s !== null ? ", acknowledged after " + fmtDur(f.mean_ack_s) + " on average" : "")]
    ];
    var table = document.getElementById("trip-figures");
    table.textContent = "";
    rows.forEach(function (r) {
      var tr = table.insertRow(), th = document.createElement("th");
      th.textContent = r[0]; tr.appendChild(th);
      tr.insertCell().textContent = r[1];
    });
  }

  function addItem(e) {
    var li = document.createElement("li");
    li.className = "tl-item group-" + e.group;
    li.dataset.t = String(e.t);
    li.dataset.id = String(e.id);
    var time = document.createElement("time");
    time.dateTime = e.at; time.textContent = fmtTime(e.t);
    var text = document.createElement("span");
    text.className = "tl-text"; text.textContent = e.text;
    li.appendChild(time); li.appendChild(text);
    if (e.place || (e.lat !== null && e.lon !== null)) {
      var where = document.createElement("span");
      where.className = "tl-where muted";
      where.textContent = e.place ? "near " + e.place
        : e.lat.toFixed(5) + ", " + e.lon.toFixed(5) + (e.position === "track" ? " (track)" : "");
      li.appendChild(where);
    }
    li.addEventListener("click", function () { if (data.track.length) setTime(e.t); });
    var item = { t: e.t, id: e.id, kind: e.kind, el: li };
    var at = items.findIndex(function (it) { return it.t > e.t; });
    if (at < 0) { timelineEl.appendChild(li); items.push(item); }
    else { timelineEl.insertBefore(li, items[at].el); items.splice(at, 0, item); }
  }

  // Speed over time, with off-route stretches and stops shaded; a cursor follows the slider.
  var CW = 640, CH = 120, PAD = 28;
  function chartX(t) { return PAD + (t1 > t0 ? (t - t0) / (t1 - t0) : 0) * (CW - 2 * PAD); }
  function el(name, attrs, parent) {
    var n = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(n);
    return n;
  }
  function drawChart() {
    chart.textContent = "";
    var track = data.track;
    var speeds = track.map(function (f, i) {
      if (f[3] !== null && f[3] !== undefined) return f[3];
      if (i === 0) return 0;
      var p = track[i - 1], dt = f[2] - p[2];
      if (dt <= 0) return 0;
      var dy = (f[0] - p[0]) * 111195, dx = (f[1] - p[1]) * 111195 * Math.cos(f[0] * Math.PI / 180);
      return Math.sqrt(dx * dx + dy * dy) / dt;
    });
    var vmax = Math.max(10, Math.ceil(Math.max.apply(null, speeds.concat([0])) * 3.6 / 10) * 10);
    function y(v) { return CH - PAD + 6 - (v * 3.6 / vmax) * (CH - PAD - 6); }
    data.off_route.forEach(function (s) {
      el("rect", { "class": "shade off-route", x: chartX(s.t0), y: 4, width: Math.max(1, chartX(s.t1) - chartX(s.t0)), height: CH - PAD + 2 }, chart);
    });
    data.stops.forEach(function (s) {
      el("rect", { "class": "shade stop", x: chartX(s.t0), y: 4, width: Math.max(1, chartX(s.t1) - chartX(s.t0)), height: CH - PAD + 2 }, chart);
    });
    el("line", { "class": "axis-line", x1: PAD, x2: CW - PAD, y1: y(0), y2: y(0) }, chart);
    el("text", { "class": "axis", x: PAD - 4, y: y(0) + 4, "text-anchor": "end" }, chart).textContent = "0";
    el("text", { "class": "axis", x: PAD - 4, y: y(vmax / 3.6) + 4, "text-anchor": "end" }, chart).textContent = String(vmax);
    el("text", { "class": "axis", x: PAD, y: CH - 6 }, chart).textContent = fmtTime(t0);
    el("text", { "class": "axis", x: CW - PAD, y: CH - 6, "text-anchor": "end" }, chart).textContent = fmtTime(t1);
    el("text", { "class": "axis", x: CW / 2, y: CH - 6, "text-anchor": "middle" }, chart).textContent = "speed, km/h";
    if (track.length > 1) {
      var pts = track.map(function (f, i) { return chartX(f[2]).toFixed(1) + "," + y(speeds[i]).toFixed(1); }).join(" ");
      el("polyline", { "class": "speed-line", points: pts }, chart);
    }
    items.forEach(function (it) {
      if (it.kind === "alert_raised") {
        el("circle", { "class": "alert-dot", cx: chartX(it.t), cy: 10, r: 4 }, chart);
      }
    });
    cursor = el("line", { "class": "chart-cursor", x1: PAD, x2: PAD, y1: 2, y2: CH - PAD + 8 }, chart);
    chart.addEventListener("click", function (ev) {
      var box = chart.getBoundingClientRect();
      var x = (ev.clientX - box.left) / box.width * CW;
      setTime(t0 + (x - PAD) / (CW - 2 * PAD) * (t1 - t0));
    });
  }

  function start(body) {
    data = body;
    times = data.track.map(function (f) { return f[2]; });
    var eventTimes = data.timeline.map(function (e) { return e.t; });
    if (times.length) { t0 = times[0]; t1 = times[times.length - 1]; }
    else if (eventTimes.length) { t0 = eventTimes[0]; t1 = eventTimes[eventTimes.length - 1]; }
    data.timeline.forEach(addItem);
    drawMap();
    drawFigures();
    drawChart();
    slider.max = String(Math.max(0, Math.round(t1 - t0)));
    slider.disabled = playBtn.disabled = !times.length;
    var mockedCount = data.track.filter(isMocked).length;
    status.textContent = times.length
      ? data.track.length + " positions, " + data.off_route.length + " off-route stretch(es), " + data.stops.length + " stop(s)." +
        (mockedCount ? " " + mockedCount + " position(s): " + MOCKED + "." : "")
      : "No recorded positions for this trip.";
    root.dataset.ready = "1";
    setTime(t0);
  }

  slider.addEventListener("input", function () { pause(); setTime(t0 + Number(slider.value)); });
  playBtn.addEventListener("click", function () { if (playing) pause(); else play(); });

  fetch("/api/v1/trips/" + page.trip_id + "/replay", { credentials: "same-origin" })
    .then(function (resp) { return resp.json().then(function (body) { if (!resp.ok) throw new Error(body.error || "failed"); return body; }); })
    .then(start)
    .catch(function (err) { status.className = "error"; status.textContent = "Could not load the replay: " + err.message; });

  T.fillPage(document, { seconds: false });

  var form = document.getElementById("note-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var result = document.getElementById("note-result"), text = document.getElementById("note-text");
      result.className = ""; result.textContent = "Saving…";
      fetch("/api/v1/trips/" + page.trip_id + "/notes", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ text: text.value })
      }).then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) { result.className = "error"; result.textContent = body.error || "not saved"; return; }
          result.textContent = "Added.";
          text.value = "";
          if (data) { addItem(body); followTimeline(); }
        });
      }).catch(function () { result.className = "error"; result.textContent = "No answer from the server."; });
    });
  }
})();
