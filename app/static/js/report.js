/* The printable trip report: its Print button (no inline handler: the CSP allows none). */
(function () {
  "use strict";

  var button = document.getElementById("print-report");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
