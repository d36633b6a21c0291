/* Every alert kind in words, with an icon (from fonts every desktop has) and a severity (ux.md rule 1:
   never colour alone); "urgent" kinds sound loud and repeat until someone acknowledges them.
   One list for the live map (dispatch.js) and the trip page (trip-watch.js). */
(function () {
  "use strict";

  var KINDS = {
    panic: { label: "PANIC", icon: "\u203C", sev: "high", urgent: true },
    duress: { label: "DURESS", icon: "\u2716", sev: "high", urgent: true },
    pin_attempts: { label: "Wrong PINs", icon: "\u2731", sev: "high", urgent: true },
    missed_checkin: { label: "Missed check-in", icon: "\u25F7", sev: "medium" },
    signal_lost: { label: "Signal lost", icon: "\u2298", sev: "medium" },
    deviation: { label: "Off route", icon: "\u21AA", sev: "low" },
    stop: { label: "Unexpected stop", icon: "\u25A0", sev: "low" },
    hazard_zone: { label: "Hazard zone", icon: "\u26A0", sev: "medium" },
    flagged_place: { label: "Flagged place", icon: "\u2691", sev: "medium" },
    late: { label: "Running late", icon: "\u25D4", sev: "low" },
    medication_due: { label: "Medication due", icon: "\u271A", sev: "medium" },
    low_battery: { label: "Low battery", icon: "\u2582", sev: "low" }
  };

  window.EscortAlertKinds = {
    KINDS: KINDS,
    // A kind this page does not know yet still reads as words.
    of: function (kind) { return KINDS[kind] || { label: kind.replace(/_/g, " "), icon: "\u25CF", sev: "low" }; }
  };
})();
