/* The trip form (and the standing-order form): a click on the map sets the pickup, the drop-off
   or a new allowed stop (as the radio buttons say); every place has an address search and a pin
   that can be dragged or moved by keyboard (address-search.js), and its coordinate fields;
   allowed stops are rows added and removed here; a new pickup time asks which escorts are free. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  function $(id) { return document.getElementById(id); }
  var said = $("map-said");
  var NAMES = { pickup: "Pickup", dropoff: "Drop-off" };

  var map = L.map("plan-map").setView([60.1699, 24.9384], 12);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);

  // Each place (pickup, drop-off, every allowed stop) is an address search with its own pin on this map.
  function search(end) { return document.querySelector("[data-address-search][data-end=" + end + "]").addressSearch; }
  document.querySelectorAll("#trip-form [data-address-search]").forEach(function (block) {
    AddressSearch.attach(block, { map: map });
  });

  // A place chosen in an address search: say it near the map too.
  document.addEventListener("address-picked", function (ev) {
    var end = ev.target.dataset && ev.target.dataset.end;
    var who = NAMES[end] || ev.target.dataset.pinName || "Place";
    said.textContent = who + " set to " + ev.detail.label + ".";
  });

  // ---- allowed stops: rows added and removed; each has its address search, pin and coordinates ----
  var rows = $("stop-rows"), template = $("stop-template"), empty = $("stops-empty");
  var nextStop = 0;
  Array.prototype.forEach.call(rows.children, function (li) { nextStop = Math.max(nextStop, Number(li.dataset.stop) + 1); });

  function renumber() {
    Array.prototype.forEach.call(rows.children, function (li, i) {
      li.querySelectorAll("[data-stop-name]").forEach(function (span) {
        span.textContent = (span.textContent.charAt(0) === "s" ? "stop " : "Stop ") + (i + 1);
      });
      var list = li.querySelector("[data-results]");
      if (list) list.setAttribute("aria-label", "Places found for stop " + (i + 1));
      var block = li.querySelector("[data-address-search]");
      if (block.addressSearch) block.addressSearch.rename("Stop " + (i + 1));
    });
    empty.hidden = rows.children.length > 0;
  }

  function wire(li) {
    var block = li.querySelector("[data-address-search]");
    var found = AddressSearch.attach(block, { map: map });
    li.querySelector("[data-remove-stop]").addEventListener("click", function () {
      var name = block.dataset.pinName;
      found.remove();
      li.remove();
      renumber();
      said.textContent = name + " removed.";
      $("stop-add").focus();
    });
    return found;
  }
  Array.prototype.forEach.call(rows.children, wire);

  function addStop() {
    var n = nextStop++, shown = rows.children.length + 1;
    var html = template.innerHTML.split("__N__").join(String(n)).split("__SHOWN__").join(String(shown));
    var holder = document.createElement("template");
    holder.innerHTML = html;  // our own template's markup, with numbers only put in: no user data
    var li = holder.content.firstElementChild;
    rows.appendChild(li);
    var found = wire(li);
    renumber();
    return { li: li, search: found };
  }
  $("stop-add").addEventListener("click", function () {
    var added = addStop();
    added.li.querySelector("input[type=search]").focus();
    said.textContent = "Stop " + rows.children.length + " added: find its address, click the map, or type its position.";
  });

  function mode() { return document.querySelector("input[name=click_mode]:checked").value; }

  map.on("click", function (ev) {
    var lat = ev.latlng.lat, lon = ev.latlng.lng, m = mode();
    if (m === "stop") {
      var added = addStop();
      added.search.setPosition(lat, lon, "set on the map");
      said.textContent = "Stop " + rows.children.length + " added at " + lat.toFixed(6) + ", " + lon.toFixed(6) + ".";
      return;
    }
    search(m).setPosition(lat, lon, "set on the map");
    said.textContent = NAMES[m] + " set to " + lat.toFixed(6) + ", " + lon.toFixed(6) + ".";
    // The next click sets the drop-off: the usual order of planning.
    if (m === "pickup") document.querySelector("input[name=click_mode][value=dropoff]").checked = true;
  });

  var shown = [];
  document.querySelectorAll("#trip-form [data-address-search]").forEach(function (block) {
    var at = block.addressSearch && block.addressSearch.position();
    if (at) shown.push(at);
  });
  if (shown.length) map.fitBounds(L.latLngBounds(shown).pad(0.5), { maxZoom: 15 });

  // Escorts free at the pickup time: the option texts change, the choice stays.
  var escort = $("f-escort");
  function refreshEscorts() {
    var raw = $("f-pickup_time").value;
    var start = raw ? new Date(raw) : null;
    if (!start || isNaN(start)) return;
    var url = "/api/v1/escorts?start=" + encodeURIComponent(start.toISOString());
    if (page.trip_id) url += "&except_trip=" + page.trip_id;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (list) {
      if (!list) return;
      var chosen = escort.value;
      while (escort.options.length > 1) escort.remove(1);
      list.forEach(function (e) {
        var o = document.createElement("option");
        o.value = e.username;
        o.textContent = e.username + " (" + (e.free ? "free" : e.busy_with ? "busy: trip " + e.busy_with : "busy") + ")";
        escort.appendChild(o);
      });
      escort.value = chosen;
    });
  }
  $("f-pickup_time").addEventListener("change", refreshEscorts);

  var summary = $("error-summary");
  if (summary) summary.focus();
})();
