/* The patient sheet: medication times in the viewer's own time zone. */
(function () {
  "use strict";

  Array.prototype.forEach.call(document.querySelectorAll("time.local-time"), function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) el.textContent = when.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
  });
})();
