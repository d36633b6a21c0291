/* The trip list: times in the service's time zone, filters applied as they change, rows open the log. */
(function () {
  "use strict";

  window.EscortTimes.fillPage(document, { seconds: false });  // the service's zone (ESCORT_TIMEZONE)

  var form = document.getElementById("trip-filters");
  if (form) {
    Array.prototype.forEach.call(form.querySelectorAll("select, input[type=date]"), function (input) {
      input.addEventListener("change", function () { form.requestSubmit(); });
    });
    // Empty fields stay out of the address, so links stay short and shareable.
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (input) {
        if (input.name && !input.value) input.disabled = true;
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("#trip-list tbody tr[data-trip-id]"), function (row) {
    row.addEventListener("click", function (ev) {
      if (ev.target.closest("a")) return;
      window.location.href = "/trips/" + row.dataset.tripId;
    });
  });
})();
