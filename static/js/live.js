/* socdesk live updates: keeps the "Live" indicator of [data-live] regions current and, while the
 * SSE stream is down, refreshes their [data-live-refresh] fragments every data-live-poll-seconds
 * (and says so). The stream itself is htmx's SSE extension (sse-connect); fragments listen with
 * hx-trigger="sse:<topic>, live-poll". No inline scripts or styles (CSP). */
(function () {
  "use strict";

  var GRACE_MS = 3000; // a reconnect within this long is a blip, not an outage worth a notice

  function statusOf(region) {
    return region.querySelector("[data-live-status]");
  }

  function show(region, state, text) {
    var status = statusOf(region);
    if (!status) return;
    status.setAttribute("data-live-status", state);
    var label = status.querySelector("[data-live-text]");
    if (label) label.textContent = text;
  }

  function refresh(region) {
    if (!window.htmx) return;
    var fragments = region.querySelectorAll("[data-live-refresh]");
    for (var i = 0; i < fragments.length; i++) window.htmx.trigger(fragments[i], "live-poll");
  }

  function live(region) {
    if (!region.socdeskLive) {
      var seconds = parseInt(region.getAttribute("data-live-poll-seconds") || "15", 10);
      region.socdeskLive = { seconds: seconds > 0 ? seconds : 15, poll: null, grace: null, dropped: false };
    }
    return region.socdeskLive;
  }

  function onOpen(region) {
    var state = live(region);
    if (state.grace) { window.clearTimeout(state.grace); state.grace = null; }
    if (state.poll) { window.clearInterval(state.poll); state.poll = null; }
    show(region, "live", "Live");
    if (state.dropped) refresh(region); // catch up on what happened while the stream was down
    state.dropped = false;
  }

  function onError(region) {
    var state = live(region);
    state.dropped = true;
    if (state.poll || state.grace) return;
    state.grace = window.setTimeout(function () {
      state.grace = null;
      show(region, "polling", "Live updates interrupted: refreshing every " + state.seconds + " s");
      refresh(region);
      state.poll = window.setInterval(function () { refresh(region); }, state.seconds * 1000);
    }, GRACE_MS);
  }

  function regionOf(event) {
    var target = event.target;
    return target instanceof Element ? target.closest("[data-live]") : null;
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    var region = regionOf(event);
    if (region) onOpen(region);
  });
  document.addEventListener("htmx:sseError", function (event) {
    var region = regionOf(event);
    if (region) onError(region);
  });
})();
