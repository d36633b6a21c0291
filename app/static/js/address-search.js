// A reusable address search with its pin: a labelled text box, a "Find" button, the candidates as
// buttons. Choosing one fills the lat/lon fields it names and, where the page has a Leaflet map,
// moves the place's pin. The pin is draggable and movable by keyboard (focus it, then the arrow
// keys move it 5 m, with Shift 50 m); after a move the fields follow and the address line is
// refreshed by a reverse lookup ("no address known here" when none is). Coordinates typed into
// the fields move the pin too. Labels go into the page as text, never as HTML. Markup (see
// templates/dispatch/_places.html, templates/patients/form.html):
//   <div data-address-search data-lat="ID" data-lon="ID" [data-addr="ID of a field keeping the words"]
//        [data-fill="ID of a text field to fill once"] [data-pin-name="Pickup"] [data-end="pickup"]>
//     <label for="S">…</label><input id="S" type="search"><button type="button" data-find>Find</button>
//     <p data-status role="status"></p><ul data-results></ul><p data-chosen></p>
//     [<div data-map data-tile-url="…" data-tile-attribution="…"></div>: a map of its own]
//   </div>
// Every such block is attached on load; pages with a shared map call AddressSearch.attach(block, {map}).
(function () {
  "use strict";

  var STEP_M = 5, BIG_STEP_M = 50, M_PER_DEG_LAT = 111320;
  var ARROWS = {ArrowUp: [1, 0], ArrowDown: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};

  function fmt(n) { return Number(n).toFixed(5); }
  function pinLabel(name) { return name + " pin: drag it, or focus it and move it with the arrow keys"; }

  // Ask the server for the words of a position: {label, found}.
  function reverse(lat, lon) {
    return fetch("/api/v1/reverse?lat=" + encodeURIComponent(lat) + "&lon=" + encodeURIComponent(lon),
                 {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); });
  }

  // A draggable, focusable pin whose arrow keys move it; onMove(latLng, done) after each move.
  function makePin(map, at, name, kind, onMove) {
    var face = document.createElement("span");
    face.textContent = name.charAt(0);
    face.setAttribute("aria-hidden", "true");
    var icon = window.L.divIcon({className: "place-pin pin-" + kind, html: face, iconSize: [28, 28], iconAnchor: [14, 14]});
    var pin = window.L.marker(at, {draggable: true, keyboard: true, icon: icon, riseOnHover: true,
                                   title: pinLabel(name)}).addTo(map);
    pin.on("dragend", function () { onMove(pin.getLatLng(), "dragged"); });
    var el = pin.getElement();
    if (el) {
      el.setAttribute("aria-label", pinLabel(name));
      el.addEventListener("keydown", function (event) {
        var dir = ARROWS[event.key];
        if (!dir) return;
        event.preventDefault();
        event.stopPropagation();
        var p = pin.getLatLng(), step = event.shiftKey ? BIG_STEP_M : STEP_M;
        var moved = window.L.latLng(p.lat + dir[0] * step / M_PER_DEG_LAT,
                                    p.lng + dir[1] * step / (M_PER_DEG_LAT * Math.cos(p.lat * Math.PI / 180)));
        pin.setLatLng(moved);
        onMove(moved, "moved by keyboard");
      });
    }
    return pin;
  }

  function attach(root, options) {
    if (root.addressSearch) {
      if (options && options.map) root.addressSearch.setMap(options.map);
      return root.addressSearch;
    }
    var input = root.querySelector("input[type=search]");
    var find = root.querySelector("[data-find]");
    var status = root.querySelector("[data-status]");
    var results = root.querySelector("[data-results]");
    var chosen = root.querySelector("[data-chosen]");
    var lat = document.getElementById(root.dataset.lat);
    var lon = document.getElementById(root.dataset.lon);
    var addr = root.dataset.addr ? document.getElementById(root.dataset.addr) : null;
    var fill = root.dataset.fill ? document.getElementById(root.dataset.fill) : null;
    var map = null, pin = null, asked = 0, lookupTimer = null;

    function name() { return root.dataset.pinName || "Chosen place"; }
    function say(text) { status.textContent = text; }
    function position() {
      var a = parseFloat(lat.value), b = parseFloat(lon.value);
      return isNaN(a) || isNaN(b) || Math.abs(a) > 90 || Math.abs(b) > 180 ? null : [a, b];
    }

    function showChosen(label) {
      if (!chosen) return;
      var at = position();
      chosen.textContent = at
        ? "Chosen: " + (label ? label + " " : "") + "(" + fmt(at[0]) + ", " + fmt(at[1]) + ")"
        : "No place chosen yet.";
    }

    function movePin(recentre) {
      var at = position();
      if (!map || !window.L) return;
      if (!at) {
        if (pin) { map.removeLayer(pin); pin = null; }
        return;
      }
      if (!pin) {
        pin = makePin(map, at, name(), root.dataset.end || "place", function (p, how) {
          lat.value = p.lat.toFixed(6);
          lon.value = p.lng.toFixed(6);
          lookUp(how, 400);
        });
      } else {
        pin.setLatLng(at);
      }
      if (recentre) map.setView(at, Math.max(map.getZoom() || 0, 16));
    }

    // The words of the pin's position, asked once the pin rests; a late answer for an older spot is dropped.
    function lookUp(how, delay) {
      if (addr) addr.value = "";
      var at = position();
      if (!at) { showChosen(""); return; }
      if (chosen) chosen.textContent = "Looking up the address at (" + fmt(at[0]) + ", " + fmt(at[1]) + ")…";
      clearTimeout(lookupTimer);
      var mine = ++asked;
      lookupTimer = setTimeout(function () {
        reverse(at[0], at[1]).then(function (answer) {
          if (mine !== asked) return;
          if (answer.found) {
            if (addr) addr.value = answer.label;
            showChosen(answer.label);
            say(name() + " " + how + ": nearest address " + answer.label + ".");
          } else {
            if (chosen) chosen.textContent = "No address known here (" + fmt(at[0]) + ", " + fmt(at[1]) + ")";
            say(name() + " " + how + ": no address known here; its position will be saved.");
          }
        }).catch(function () {
          if (mine !== asked) return;
          if (chosen) chosen.textContent = "Address not looked up (" + fmt(at[0]) + ", " + fmt(at[1]) + ")";
          say(name() + " " + how + ": the address lookup did not answer; its position will be saved.");
        });
      }, delay);
      root.dispatchEvent(new CustomEvent("pin-moved", {detail: {lat: at[0], lon: at[1], how: how}, bubbles: true}));
    }

    function choose(place) {
      asked++;  // a lookup under way is no longer wanted
      clearTimeout(lookupTimer);
      lat.value = String(place.lat);
      lon.value = String(place.lon);
      if (addr) addr.value = place.label;
      if (fill && !fill.value.trim()) fill.value = place.label;
      results.replaceChildren();
      showChosen(place.label);
      say("Chosen: " + place.label + ".");
      movePin(true);
      root.dispatchEvent(new CustomEvent("address-picked", {detail: place, bubbles: true}));
      input.focus();
    }

    function render(places) {
      results.replaceChildren();
      places.forEach(function (place) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = place.label;
        button.addEventListener("click", function () { choose(place); });
        li.appendChild(button);
        results.appendChild(li);
      });
    }

    function search() {
      var q = input.value.trim();
      if (!q) { say("Type an address first."); input.focus(); return; }
      say("Searching…");
      find.disabled = true;
      fetch("/api/v1/geocode?q=" + encodeURIComponent(q), {credentials: "same-origin",
                                                          headers: {"Accept": "application/json"}})
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) { return {ok: r.ok, body: body}; });
        })
        .then(function (answer) {
          if (!answer.ok) {
            render([]);
            say((answer.body && answer.body.error) || "The address search did not answer.");
            return;
          }
          render(answer.body);
          say(answer.body.length === 0 ? "No place found: check the spelling."
            : answer.body.length === 1 ? "1 place found: choose it below."
            : answer.body.length + " places found: choose the right one below.");
          var first = results.querySelector("button");
          if (first) first.focus();
        })
        .catch(function () { say("The address search did not answer: try again, or leave the position empty."); })
        .finally(function () { find.disabled = false; });
    }

    find.addEventListener("click", search);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); search(); }  // not the form's submit
    });
    // Coordinates typed by hand move the pin; their address is looked up again.
    [lat, lon].forEach(function (field) {
      if (field.type === "hidden") return;
      field.addEventListener("input", function () { movePin(false); lookUp("typed", 800); });
    });
    showChosen(addr && addr.value ? addr.value : "");

    var api = {
      setMap: function (m) { map = m; movePin(false); },
      choose: choose,
      // Put the place at a position (a map click): the fields, the pin and the address follow.
      setPosition: function (a, b, how) {
        lat.value = Number(a).toFixed(6);
        lon.value = Number(b).toFixed(6);
        movePin(false);
        lookUp(how || "set", 0);
      },
      position: position,
      pin: function () { return pin; },
      rename: function (text) {
        root.dataset.pinName = text;
        if (pin) {
          pin.getElement().title = pinLabel(text);
          pin.getElement().setAttribute("aria-label", pinLabel(text));
          pin.getElement().firstChild.textContent = text.charAt(0);
        }
      },
      remove: function () { if (pin && map) map.removeLayer(pin); pin = null; asked++; clearTimeout(lookupTimer); },
    };
    root.addressSearch = api;
    if (options && options.map) api.setMap(options.map);
    var own = root.querySelector("[data-map]");
    if (own && window.L && !(options && options.map)) {
      var m = window.L.map(own).setView(position() || [60.1699, 24.9384], position() ? 16 : 12);
      if (own.dataset.tileUrl) {
        window.L.tileLayer(own.dataset.tileUrl, {attribution: own.dataset.tileAttribution || "", maxZoom: 19}).addTo(m);
      }
      m.on("click", function (ev) { api.setPosition(ev.latlng.lat, ev.latlng.lng, "set on the map"); });
      api.setMap(m);
    }
    return api;
  }

  window.AddressSearch = {attach: attach, reverse: reverse};
  document.querySelectorAll("[data-address-search]").forEach(function (root) { attach(root); });
})();
