// The console's only script (CSP: 'self' only). htmx does the requests; this file turns live events
// from the websocket into refreshes of the page regions that listen for them, and retires toasts.
(function () {
  "use strict";

  function announce(element) {
    var data = element.dataset;
    var body = document.body;
    htmx.trigger(body, "console:changed", { event: data.event });
    if (data.article) htmx.trigger(body, "console:article-" + data.article, { event: data.event });
    if (data.site) htmx.trigger(body, "console:site-" + data.site, { event: data.event });
  }

  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "live-event") announce(target);
    if (target && target.id === "toasts") {
      var toast = target.lastElementChild;
      if (toast) setTimeout(function () { toast.remove(); }, 6000);
    }
  });

  function liveStatus(connected) {
    var dot = document.getElementById("live-status");
    if (dot) {
      dot.classList.toggle("on", connected);
      dot.title = connected ? "live updates on" : "live updates off (reconnecting)";
    }
  }
  document.addEventListener("htmx:wsOpen", function () { liveStatus(true); });
  document.addEventListener("htmx:wsClose", function () { liveStatus(false); });
})();
