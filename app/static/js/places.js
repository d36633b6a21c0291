/* The places page (/admin/places): hazard zones and flagged places on a Leaflet map, drawn and edited
   with Leaflet-Geoman (vendored from npm). The map only fills the page's forms: a drawn polygon fills
   the new zone's corners, a placed circle the new flagged place's position and radius, and dragging
   a corner or a circle of an existing one fills its edit form. Saving is always the form's own button,
   so everything here can also be done by typing in the fields. Names go onto the map as text nodes. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  function $(id) { return document.getElementById(id); }
  var said = $("map-said");
  function say(words) { said.textContent = words; }

  var map = L.map("places-map").setView([51.5, -0.12], 12);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  map.pm.setGlobalOptions({ allowSelfIntersection: false, snappable: false });
  map.pm.setLang("en");

  var ZONE_STYLE = { color: "#b3261e", weight: 3, fillOpacity: 0.15 };
  var FLAG_STYLE = { color: "#8a4b00", weight: 3, fillOpacity: 0.15 };
  var layers = {};     // form id ("zone-3", "flag-7", "zone-new", "flag-new") → its layer on the map
  var selected = null;

  function text(tag, words) { var el = document.createElement(tag); el.textContent = words; return el; }
  function tooltipNode(lines) {
    var box = document.createElement("div");
    lines.filter(Boolean).forEach(function (line) { box.appendChild(text("div", line)); });
    return box;
  }
  function nameLayer(layer, name) {
    var el = layer.getElement && layer.getElement();
    if (!el) return;
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", name);
  }
  function field(form, name) { return $("f-" + form + "-" + name); }
  function fmt(n) { return Number(n).toFixed(6); }

  // "latitude, longitude" lines ↔ [[lat, lon], …]
  function ringFromText(value) {
    var ring = [];
    (value || "").split("\n").forEach(function (line) {
      var m = line.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$/);
      if (m) ring.push([+m[1], +m[2]]);
    });
    return ring;
  }
  function ringText(latlngs) {
    return latlngs.map(function (p) { return fmt(p.lat) + ", " + fmt(p.lng); }).join("\n");
  }

  function describe(form) {
    var kind = form.indexOf("zone") === 0 ? "Hazard zone" : "Flagged place";
    var name = field(form, form.indexOf("zone") === 0 ? "name" : "label");
    return kind + ((name && name.value) ? ": " + name.value : form.slice(-4) === "-new" ? " (new)" : "");
  }

  function openDetails(form) {
    var details = $(form + "-details");
    if (details) details.open = true;
  }

  // Copy a layer's shape into its form's fields, after a drag on the map.
  function fillForm(form, layer) {
    if (layer instanceof L.Circle) {
      var c = layer.getLatLng();
      field(form, "lat").value = fmt(c.lat);
      field(form, "lon").value = fmt(c.lng);
      field(form, "radius_m").value = String(Math.round(layer.getRadius()));
    } else if (field(form, "vertices")) {
      field(form, "vertices").value = ringText(layer.getLatLngs()[0]);
    }
  }

  function watchEdits(form, layer) {
    layer.on("pm:edit pm:dragend", function () {
      fillForm(form, layer);
      openDetails(form);
      say(describe(form) + " changed on the map: press its Save button to keep it.");
    });
    layer.on("click", function () { select(form, false); });
  }

  function addLayer(form, layer, words) {
    if (layers[form]) map.removeLayer(layers[form]);
    layers[form] = layer.addTo(map);
    layer.bindTooltip(tooltipNode(words));
    nameLayer(layer, words.filter(Boolean).join(": "));
    watchEdits(form, layer);
    return layer;
  }

  function zoneLayer(form, ring, words) {
    if (ring.length < 3) { if (layers[form]) { map.removeLayer(layers[form]); delete layers[form]; } return null; }
    var layer = L.polygon(ring, Object.assign({ className: "place-zone " + form }, ZONE_STYLE));
    return addLayer(form, layer, words);
  }

  function flagLayer(form, lat, lon, radius, words) {
    if (isNaN(lat) || isNaN(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
    var layer = L.circle([lat, lon], Object.assign({ radius: radius > 0 ? radius : 30, className: "place-flag " + form },
                                                   FLAG_STYLE));
    return addLayer(form, layer, words);
  }

  (page.zones || []).forEach(function (z) {
    zoneLayer("zone-" + z.id, z.ring, ["Hazard zone: " + z.name, z.reason]);
  });
  (page.flags || []).forEach(function (f) {
    var form = "flag-" + f.id, words = ["Flagged place: " + f.label, f.category, f.reason];
    if (f.ring && f.ring.length) {
      var layer = L.polygon(f.ring, Object.assign({ className: "place-flag " + form }, FLAG_STYLE));
      addLayer(form, layer, words);
    } else {
      flagLayer(form, f.lat, f.lon, f.radius_m, words);
    }
  });
  var all = Object.keys(layers).map(function (k) { return layers[k]; });
  if (all.length) map.fitBounds(L.featureGroup(all).getBounds().pad(0.2), { maxZoom: 17 });

  // A typed change redraws the shape, so the map always shows what the form will save.
  function redrawFromForm(form) {
    if (field(form, "vertices")) {
      var isZone = form.indexOf("zone") === 0;
      var layer = isZone ? zoneLayer(form, ringFromText(field(form, "vertices").value), [describe(form)])
        : addLayer(form, L.polygon(ringFromText(field(form, "vertices").value),
                                   Object.assign({ className: "place-flag " + form }, FLAG_STYLE)), [describe(form)]);
      return layer;
    }
    return flagLayer(form, parseFloat(field(form, "lat").value), parseFloat(field(form, "lon").value),
                     parseFloat(field(form, "radius_m").value), [describe(form)]);
  }
  document.querySelectorAll("form.place-form").forEach(function (formEl) {
    var form = formEl.dataset.form;
    formEl.addEventListener("change", function (event) {
      var name = event.target.dataset && event.target.dataset.field;
      if (["vertices", "lat", "lon", "radius_m"].indexOf(name) >= 0) redrawFromForm(form);
    });
  });
  // The address search fills the form's latitude and longitude; the form's circle shows the place (no extra pin).
  document.querySelectorAll("[data-address-search]").forEach(function (block) {
    block.addEventListener("address-picked", function () { redrawFromForm(block.dataset.form); });
  });

  // Selecting: the item highlighted in the list and on the map.
  function select(form, fit) {
    if (selected && layers[selected]) {
      var old = layers[selected].getElement && layers[selected].getElement();
      if (old) old.classList.remove("place-selected");
    }
    document.querySelectorAll(".place-item.selected").forEach(function (li) { li.classList.remove("selected"); });
    selected = form;
    var layer = layers[form], item = $(form);
    if (layer) {
      var el = layer.getElement && layer.getElement();
      if (el) el.classList.add("place-selected");
      if (fit) map.fitBounds(layer.getBounds().pad(0.3), { maxZoom: 17, animate: false });
      layer.openTooltip();
    }
    if (item) {
      item.classList.add("selected");
      if (!fit) item.scrollIntoView({ block: "nearest" });
    }
    return layer;
  }

  function stopEditing() {
    Object.keys(layers).forEach(function (k) { if (layers[k].pm && layers[k].pm.enabled()) layers[k].pm.disable(); });
  }

  document.querySelectorAll("[data-show]").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = button.dataset.show;
      if (select(form, true)) say(describe(form) + " is shown on the map.");
    });
  });
  document.querySelectorAll("[data-edit-map]").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = button.dataset.editMap, layer = select(form, true);
      if (!layer) return;
      stopEditing();
      layer.pm.enable({ allowSelfIntersection: false, draggable: true });
      openDetails(form);
      say(describe(form) + ": drag its corners or its edge on the map, or change the fields, then press Save.");
    });
  });

  // Drawing new ones.
  var stop = $("draw-stop");
  function drawing(on) { stop.hidden = !on; }
  $("draw-zone").addEventListener("click", function () {
    stopEditing();
    map.pm.enableDraw("Polygon", { allowSelfIntersection: false, snappable: false });
    drawing(true);
    say("Drawing a hazard zone: click each corner on the map, then click the first corner again to close it.");
  });
  $("draw-flag").addEventListener("click", function () {
    stopEditing();
    map.pm.enableDraw("Circle", { snappable: false });
    drawing(true);
    say("Placing a flagged place: click its centre on the map, then click again where its edge should be.");
  });
  stop.addEventListener("click", function () {
    map.pm.disableDraw();
    drawing(false);
    say("Drawing stopped.");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !stop.hidden) { map.pm.disableDraw(); drawing(false); say("Drawing stopped."); }
  });

  map.on("pm:create", function (event) {
    drawing(false);
    var layer = event.layer;
    if (event.shape === "Polygon") {
      fillForm("zone-new", layer);
      addLayer("zone-new", layer, ["New hazard zone"]);
      openDetails("zone-new");
      field("zone-new", "name").focus();
      say("Hazard zone drawn with " + layer.getLatLngs()[0].length + " corners: give it a name and press Add hazard zone.");
    } else if (event.shape === "Circle") {
      fillForm("flag-new", layer);
      addLayer("flag-new", layer, ["New flagged place"]);
      openDetails("flag-new");
      field("flag-new", "label").focus();
      say("Flagged place placed, radius " + Math.round(layer.getRadius()) +
          " m: name the place, choose its category, give the reason and press Add flagged place.");
    } else {
      map.removeLayer(layer);
    }
  });

  window.placesState = { map: map, layers: layers };  // for the browser tests

  // A form sent back with an error: show its shape as typed, and start at the error summary.
  if (page.open_form) {
    if (page.open_form.slice(-4) === "-new") redrawFromForm(page.open_form);
    var summary = $("error-summary");
    if (summary) summary.focus();
  }
})();
