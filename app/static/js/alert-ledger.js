/* An alert only moves forward: raised, acknowledged, resolved. Its changes reach a page by more
   than one road (each server process tells its own screens through the message queue; the sweep
   that finds where it happened, in words, sends it again), so a copy can arrive after a newer one.
   The page keeps the furthest state it has seen of each alert, and takes from a late copy only
   what it adds (the place, and how far it escalated). One ledger per page, for the live map, the board, the trip page and
   the alert sound; taking the same copy twice changes nothing. */
(function () {
  "use strict";

  var seen = {};

  function behind(old, next) {
    if ((old.resolved_at && !next.resolved_at) || (old.acknowledged_at && !next.acknowledged_at)) return true;
    // A copy that moves the alert on is taken whatever its updated_at: a process that merged detail
    // into the alert just before a dispatcher resolved it stamps a later time on an earlier stage.
    if ((next.resolved_at && !old.resolved_at) || (next.acknowledged_at && !old.acknowledged_at)) return false;
    // The same stage: an older copy (its detail not yet merged) is behind a newer one. Compared as
    // times, not text: the server's ISO-8601 drops the fraction when it is zero.
    return !!(old.updated_at && next.updated_at && Date.parse(next.updated_at) < Date.parse(old.updated_at));
  }

  function level(a) { return (a && a.escalation_level) || 0; }

  function take(alert) {
    var old = seen[alert.id], out = alert;
    if (old && behind(old, alert)) out = Object.assign({}, old, { place: alert.place || old.place });
    else if (old && !alert.place && old.place) out = Object.assign({}, alert, { place: old.place });
    // Escalation only goes up: the furthest step seen stays, whichever copy told it (a copy read just
    // before the sweep claimed a step can arrive after the step's own).
    var furthest = old && level(old) > level(alert) ? old : alert;
    if (level(furthest) > level(out)) {
      out = Object.assign({}, out, { escalation_level: furthest.escalation_level, escalated_at: furthest.escalated_at,
                                     escalated_to: furthest.escalated_to });
    }
    seen[alert.id] = out;
    return out;
  }

  // "to the supervisor at 14:02": the last step of the chain an unanswered alert reached, its time
  // written by the page's own ``time`` (each page writes times its way); "" when not escalated.
  function escalatedTo(a, time) {
    if (!a.escalation_level || !a.escalated_to) return "";
    return "to the " + a.escalated_to + (a.escalated_at ? " at " + time(a.escalated_at) : "");
  }

  // Whether ``now`` has gone further up the escalation chain than ``before`` (a step to say), and is not resolved.
  function steppedUp(before, now) {
    return now.state !== "resolved" && level(now) > level(before);
  }

  window.EscortAlertLedger = { take: take, escalatedTo: escalatedTo, steppedUp: steppedUp };
})();
