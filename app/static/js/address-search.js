// A reusable address search: a labelled text box, a "Find" button, the candidates as buttons.
// Choosing one fills the hidden lat/lon fields it names and, where the page hands it a Leaflet
// map, moves a draggable pin (dragging the pin changes the fields too). Labels go into the page
// as text, never as HTML. Markup (see templates/patients/form.html):
//   <div data-address-search data-lat="ID" data-lon="ID" [data-fill="ID of a text field to fill"]>
//     <label for="S">…</label><input id="S" type="search"><button type="button" data-find>Find</button>
//     <p data-status role="status"></p><ul data-results></ul><p data-chosen></p>
//   </div>
// Every such block is attached on load; pages with a map call AddressSearch.attach(block, {map}).
(function () {
  "use strict";

  function fmt(n) { return Number(n).toFixed(5); }

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
    var fill = root.dataset.fill ? document.getElementById(root.dataset.fill) : null;
    var map = null, pin = null;

    function say(text) { status.textContent = text; }

    function showChosen(label) {
      if (!chosen) return;
      chosen.textContent = lat.value && lon.value
        ? "Chosen: " + (label ? label + " " : "") + "(" + fmt(lat.value) + ", " + fmt(lon.value) + ")"
        : "No place chosen yet.";
    }

    function movePin() {
      if (!map || !window.L || !lat.value || !lon.value) return;
      var at = [Number(lat.value), Number(lon.value)];
      if (!pin) {
        pin = window.L.marker(at, {draggable: true, keyboard: true, title: "Chosen place (drag to adjust)",
                                   alt: "Chosen place"}).addTo(map);
        pin.on("dragend", function () {
          var p = pin.getLatLng();
          lat.value = p.lat.toFixed(6);
          lon.value = p.lng.toFixed(6);
          showChosen("pin moved by hand");
          say("The pin was moved: its position will be saved.");
        });
      } else {
        pin.setLatLng(at);
      }
      map.setView(at, Math.max(map.getZoom() || 0, 16));
    }

    function choose(place) {
      lat.value = String(place.lat);
      lon.value = String(place.lon);
      if (fill && !fill.value.trim()) fill.value = place.label;
      results.replaceChildren();
      showChosen(place.label);
      say("Chosen: " + place.label + ".");
      movePin();
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
    showChosen("");

    var api = {
      setMap: function (m) { map = m; movePin(); },
      choose: choose,
    };
    root.addressSearch = api;
    if (options && options.map) api.setMap(options.map);
    return api;
  }

  window.AddressSearch = {attach: attach};
  document.querySelectorAll("[data-address-search]").forEach(function (root) { attach(root); });
})();
