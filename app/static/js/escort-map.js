/* Where to go: the tablet's map (own position, planned route, next stop, the trip's allowed stops)
   and links that hand the next stop to a navigation app. escort.js calls window.escortMap.trip(trip) and .position(lat, lon). */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  // Before the patient is on board the escort drives to the pickup; then to the drop-off.
  var TO_PICKUP = { scheduled: true, assigned: true, en_route_pickup: true, arrived_pickup: true };
  var TO_DROPOFF = { on_board: true, arrived_dropoff: true };
  var state = { map: null, me: null, route: null, stop: null, stops: [], stopsShown: null, trip: null, lat: null, lon: null,
                fitted: false };

  function $(id) { return document.getElementById(id); }

  // The stop the escort drives to now, with words for it: the address when the trip has one, else coordinates.
  function nextStop(trip) {
    if (!trip) return null;
    var which = TO_PICKUP[trip.status] ? "pickup" : TO_DROPOFF[trip.status] ? "dropoff" : null;
    var place = which && trip[which];
    if (!place || typeof place.lat !== "number" || typeof place.lon !== "number") return null;
    var words = place.address || place.label || null;
    return { kind: which, lat: place.lat, lon: place.lon, words: words,
             title: which === "pickup" ? "Pickup" : "Drop-off" };
  }

  function coords(stop) { return stop.lat.toFixed(6) + "," + stop.lon.toFixed(6); }

  // The links each app documents: geo: (RFC 5870, Android's intent), OsmAnd's web link, Google's and Apple's map URLs.
  function navLinks(stop, here) {
    var ll = coords(stop), q = encodeURIComponent(stop.words || stop.title);
    var osmand = "https://osmand.net/map/?" + (here ? "start=" + here + "&" : "") + "finish=" + ll +
                 "&profile=car&pin=" + ll + "#16/" + stop.lat.toFixed(6) + "/" + stop.lon.toFixed(6);
    return {
      geo: "geo:" + ll + "?q=" + ll + "(" + q + ")",
      osmand: osmand,
      google: "https://www.google.com/maps/dir/?api=1&destination=" + ll + "&travelmode=driving",
      apple: "https://maps.apple.com/?daddr=" + ll + "&dirflg=d" + (stop.words ? "&q=" + q : "")
    };
  }

  function ensureMap() {
    if (state.map || !window.L || !$("tablet-map")) return state.map;
    var map = L.map("tablet-map", { zoomControl: true, attributionControl: !!page.tile_url });
    if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
    map.setView([51.5, -0.12], 13);
    state.map = map;
    return map;
  }

  function label(marker, words) {
    var span = document.createElement("span");
    span.className = "stop-label";
    span.textContent = words;  // text, never HTML: an address is data
    marker.bindTooltip(span, { permanent: true, direction: "top", offset: [0, -8] });
  }

  // The words and the links for the next stop (cheap: runs with every position).
  function describe() {
    var stop = nextStop(state.trip), section = $("where");
    if (section) section.hidden = !stop;
    if (!stop) return null;
    $("next-stop-kind").textContent = stop.title;
    $("next-stop-place").textContent = stop.words || "At " + stop.lat.toFixed(5) + ", " + stop.lon.toFixed(5);
    var here = state.lat === null ? null : state.lat.toFixed(6) + "," + state.lon.toFixed(6);
    var links = navLinks(stop, here);
    ["geo", "osmand", "google", "apple"].forEach(function (app) {
      var a = $("nav-" + app);
      a.href = links[app];
      if (app !== "geo") a.setAttribute("aria-label", a.textContent + ": directions to the " + stop.title.toLowerCase());
    });
    return stop;
  }

  // The trip's allowed stops (a pharmacy on the way), each in words: its address, else coordinates.
  function allowedStops(trip) {
    return ((trip && trip.allowed_stops) || []).filter(function (p) {
      return p && typeof p.lat === "number" && typeof p.lon === "number";
    }).map(function (p, i) {
      return { lat: p.lat, lon: p.lon, n: i + 1,
               words: p.address || "At " + p.lat.toFixed(5) + ", " + p.lon.toFixed(5) };
    });
  }

  // The list under the next stop, rebuilt only when the stops themselves change (a dispatcher's edit).
  function listStops(stops) {
    var key = JSON.stringify(stops), box = $("allowed-stops"), list = $("allowed-stops-list");
    if (!box || key === state.stopsShown) return;
    state.stopsShown = key;
    while (list.firstChild) list.removeChild(list.firstChild);
    stops.forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.words;  // an address is data: text, never HTML
      list.appendChild(li);
    });
    box.hidden = !stops.length;
  }

  // The route and the stops on the map (when the trip or its status changes).
  function draw() {
    var stop = describe(), map = ensureMap(), stops = allowedStops(state.trip);
    listStops(stops);
    if (!map) return;
    map.invalidateSize();  // the section may have just been shown
    if (state.route) map.removeLayer(state.route);
    if (state.stop) map.removeLayer(state.stop);
    state.stops.forEach(function (m) { map.removeLayer(m); });
    state.route = state.stop = null;
    state.stops = [];
    if (!stop) return;
    state.stops = stops.map(function (s) {
      // A smaller green dot, unlike the red next stop and the blue "You"; its label says what it is.
      var m = L.circleMarker([s.lat, s.lon], { radius: 8, weight: 3, color: "#fff", fillColor: "#1b6e35", fillOpacity: 1,
                                               className: "allowed-stop" }).addTo(map);
      label(m, "Allowed stop " + s.n + ": " + s.words);
      return m;
    });
    var route = (state.trip.route || []).map(function (p) { return [p[0], p[1]]; });
    if (route.length >= 2) {
      state.route = L.polyline(route, { color: "#1f5fbf", weight: 5, opacity: 0.8, className: "planned-route" }).addTo(map);
    }
    state.stop = L.circleMarker([stop.lat, stop.lon], { radius: 11, weight: 4, color: "#fff", fillColor: "#8e0000", fillOpacity: 1,
                                                       className: "next-stop next-stop-" + stop.kind }).addTo(map);
    label(state.stop, stop.title + (stop.words ? ": " + stop.words : ""));
    fit();
  }

  // Frame the route, the stop and the escort once; after that the escort moves the map as they like.
  function fit() {
    if (!state.map || state.fitted) return;
    var pts = [];
    if (state.route) pts = pts.concat(state.route.getLatLngs());
    if (state.stop) pts.push(state.stop.getLatLng());
    state.stops.forEach(function (m) { pts.push(m.getLatLng()); });
    if (state.me) pts.push(state.me.getLatLng());
    if (!pts.length) return;
    state.map.fitBounds(L.latLngBounds(pts), { padding: [24, 24], maxZoom: 17 });
    state.fitted = !!state.me;
  }

  window.escortMap = {
    trip: function (trip) {
      var before = nextStop(state.trip), after = nextStop(trip);
      state.trip = trip;
      if (before && after && before.kind !== after.kind) state.fitted = false;  // a new destination: frame it
      draw();
    },
    position: function (lat, lon) {
      state.lat = lat;
      state.lon = lon;
      var map = ensureMap();
      if (map) {
        if (!state.me) {
          state.me = L.circleMarker([lat, lon], { radius: 9, weight: 3, color: "#fff", fillColor: "#1f5fbf", fillOpacity: 1,
                                                  className: "my-position" }).addTo(map);
          label(state.me, "You");
        } else {
          state.me.setLatLng([lat, lon]);
        }
        fit();
      }
      if (state.trip) describe();
    },
    links: function () { var s = nextStop(state.trip); return s ? navLinks(s, null) : null; },
    state: state
  };
})();
