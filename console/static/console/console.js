// The console's only script (CSP: 'self' only). htmx does the requests; this file turns live events
// from the websocket into refreshes of the page regions that listen for them, retires toasts, keeps
// relative times true, tells the server the reviewer's time zone, and opens the menu on narrow screens.
// Each page's behaviour has its own section below.
(function () {
  "use strict";

  // --- live events ---------------------------------------------------------------------------------------
  var MAX_TOASTS = 3;

  function announce(element) {
    var data = element.dataset;
    var body = document.body;
    htmx.trigger(body, "console:changed", { event: data.event });
    if (data.article) htmx.trigger(body, "console:article-" + data.article, { event: data.event });
    if (data.site) htmx.trigger(body, "console:site-" + data.site, { event: data.event });
    if (data.agent) htmx.trigger(body, "console:agent-" + data.agent, { event: data.event });
  }

  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "live-event") announce(target);
    if (target && target.id === "toasts") {
      var toast = target.lastElementChild;
      if (toast) setTimeout(function () { toast.remove(); }, 6000);
      // A burst of events (a batch, a busy agent) shows its latest few: the page itself shows the rest.
      while (target.children.length > MAX_TOASTS) target.firstElementChild.remove();
    }
  });

  // Two requests for one region can overlap (a live refresh and the reviewer's action): the first swap
  // replaces the region, and the second would swap into the old, detached one. That swap is dropped: it
  // would show nothing, and htmx's hx-preserve would move the page's preserved elements (a ticked box, a
  // half-typed reason, the preview) into it, and lose them. A detached element's events do not bubble to
  // the document, so the guard listens on each requesting element itself.
  function dropDetachedSwap(evt) {
    var target = evt.detail.target;
    if (target && !document.documentElement.contains(target)) evt.detail.shouldSwap = false;
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt && !elt.consoleSwapGuard) {
      elt.consoleSwapGuard = true;
      elt.addEventListener("htmx:beforeSwap", dropDetachedSwap);
    }
  });

  function liveStatus(connected) {
    var dot = document.getElementById("live-status");
    var text = document.getElementById("live-status-text");
    var words = connected ? "live updates on" : "live updates off (reconnecting)";
    if (dot) {
      dot.classList.toggle("on", connected);
      dot.title = words;
    }
    if (text) text.textContent = words;
  }
  document.addEventListener("htmx:wsOpen", function () { liveStatus(true); });
  document.addEventListener("htmx:wsClose", function () { liveStatus(false); });

  // --- time ----------------------------------------------------------------------------------------------
  // The server renders times in the zone this cookie names (console.middleware.ReviewerTimeZoneMiddleware).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("wpub_tz=" + encodeURIComponent(zone)) < 0) {
      document.cookie = "wpub_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: times stay in UTC */ }

  // The same words as console.templatetags.console.relative_time.
  function relative(date, now) {
    var seconds = Math.round((now - date) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 45) return future ? "in a few seconds" : "just now";
    var units = [[86400 * 365, "year"], [86400 * 30, "month"], [86400, "day"], [3600, "h"], [60, "min"]];
    for (var i = 0; i < units.length; i++) {
      var size = units[i][0], unit = units[i][1];
      if (seconds >= size * 0.95 || unit === "min") {
        var count = Math.max(1, Math.round(seconds / size));
        var words = count + " " + unit + (count !== 1 && size >= 86400 ? "s" : "");
        return future ? "in " + words : words + " ago";
      }
    }
    return "";
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-relative]").forEach(function (element) {
      var date = Date.parse(element.getAttribute("datetime"));
      if (!isNaN(date)) element.textContent = relative(date, now);
    });
  }
  setInterval(refreshTimes, 30000);

  // --- navigation on narrow screens ----------------------------------------------------------------------
  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest && evt.target.closest(".nav-toggle");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    document.getElementById(toggle.getAttribute("aria-controls")).classList.toggle("open", open);
  });

  // --- section: queue (triage) ---------------------------------------------------------------------------
  // The review queue: select-all, the batch buttons enabled only with something ticked, Enter in the reason
  // box rejects the ticked articles, and keyboard shortcuts (j/k move, x tick, o or Enter open, a approve,
  // r reject, ? lists them). The current row is remembered by id across live refreshes of #queue-table.
  var queueCurrent = { id: null, index: -1, hadFocus: false };

  function queueRows() {
    var table = document.getElementById("queue-table");
    return table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr[id^='article-row-']")) : [];
  }

  function queueBoxes() {
    var table = document.getElementById("queue-table");
    return table ? Array.prototype.slice.call(table.querySelectorAll("input[type=checkbox][name=article]")) : [];
  }

  function queueSay(words) {
    var status = document.getElementById("batch-count");
    if (status && status.textContent !== words) status.textContent = words;
  }

  function queueSync() {
    if (!document.getElementById("batch")) return;
    var boxes = queueBoxes();
    var ticked = boxes.filter(function (box) { return box.checked; }).length;
    document.querySelectorAll("#batch [data-batch-button]").forEach(function (button) {
      button.disabled = ticked === 0;
    });
    var all = document.getElementById("select-all");
    if (all) {
      all.disabled = boxes.length === 0;
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    queueSay(ticked === 0 ? "None selected" : ticked + " selected");
  }

  function queueMark(row, focus) {
    var rows = queueRows();
    rows.forEach(function (each) { each.classList.toggle("current", each === row); });
    queueCurrent.id = row ? row.id : null;
    queueCurrent.index = row ? rows.indexOf(row) : -1;
    if (row && focus) {
      row.focus();
      row.scrollIntoView({ block: "nearest" });
    }
  }

  // After a swap: the same row again, or the one now in its place (it was approved, say); focus goes back
  // to it when the swap took the focus away from the table.
  function queueRestore() {
    var rows = queueRows();
    if (!rows.length || queueCurrent.index < 0) return;
    var row = (queueCurrent.id && document.getElementById(queueCurrent.id)) ||
      rows[Math.min(queueCurrent.index, rows.length - 1)];
    var lost = !document.activeElement || document.activeElement === document.body;
    queueMark(row, queueCurrent.hadFocus && lost);
  }

  document.addEventListener("htmx:beforeSwap", function () {
    var table = document.getElementById("queue-table");
    queueCurrent.hadFocus = !!(table && table.contains(document.activeElement));
  });

  htmx.onLoad(function () {
    queueSync();
    queueRestore();
  });

  document.addEventListener("change", function (evt) {
    var target = evt.target;
    if (target.id === "select-all") {
      queueBoxes().forEach(function (box) { box.checked = target.checked; });
    }
    if (target.id === "select-all" || (target.name === "article" && target.closest("#queue-table"))) queueSync();
  });

  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest && evt.target.closest(".shortcuts-open");
    if (opener) queueShortcuts();
    var row = evt.target.closest && evt.target.closest("#queue-table tbody tr[id^='article-row-']");
    if (row) queueMark(row, false);
  });

  function queueShortcuts() {
    var dialog = document.getElementById("queue-shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function queueReview(row, action, reason) {
    var box = row.querySelector("input[type=checkbox][name=article]");
    var form = document.getElementById("batch");
    if (!box || !form) {
      queueSay("#" + row.id.replace("article-row-", "") + " is not pending review");
      return;
    }
    var values = { action: action, article: box.value };
    if (reason) values.rejection_reason = reason;
    queueCurrent.hadFocus = true;
    htmx.ajax("POST", form.getAttribute("hx-post"), { target: "#main", swap: "innerHTML", values: values });
  }

  function queueTyping(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && ["checkbox", "radio", "button", "submit", "reset"].indexOf(target.type) < 0;
  }

  document.addEventListener("keydown", function (evt) {
    if (!document.getElementById("queue-table") || !document.getElementById("batch")) return;  // not the queue
    if (evt.target.id === "batch-reason" && evt.key === "Enter") {
      // Not the form's first button (approve): Enter in the reason box rejects.
      evt.preventDefault();
      var reject = document.querySelector("#batch button[value=reject]");
      if (reject && !reject.disabled) reject.click();
      else queueSay("Select the articles to reject first");
      return;
    }
    if (evt.target.id === "batch-reason" && evt.key === "Escape") {
      // Back to the rows, to go on with j/k.
      var back = queueCurrent.id && document.getElementById(queueCurrent.id);
      if (back) back.focus();
      else evt.target.blur();
      return;
    }
    if (evt.ctrlKey || evt.metaKey || evt.altKey || evt.defaultPrevented || queueTyping(evt.target)) return;
    var dialog = document.getElementById("queue-shortcuts");
    if (dialog && dialog.open) return;  // Esc closes it (the browser's own)
    var rows = queueRows();
    var row = queueCurrent.id && document.getElementById(queueCurrent.id);
    var index = row ? rows.indexOf(row) : -1;
    var key = evt.key;
    if (key === "?") {
      queueShortcuts();
    } else if (key === "j" || key === "k") {
      if (!rows.length) return;
      var next = index < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, index + (key === "j" ? 1 : -1)));
      queueMark(rows[next], true);
    } else if (!row) {
      return;
    } else if (key === "x") {
      var box = row.querySelector("input[type=checkbox][name=article]");
      if (!box) return queueSay("#" + row.id.replace("article-row-", "") + " is not pending review");
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    } else if (key === "o" || (key === "Enter" && evt.target === row)) {
      var link = row.querySelector("td.title a");
      if (link) link.click();
    } else if (key === "a") {
      queueReview(row, "approve");
    } else if (key === "r") {
      var reason = document.getElementById("batch-reason");
      if (reason && reason.value.trim()) {
        queueReview(row, "reject", reason.value);
      } else {
        var tick = row.querySelector("input[type=checkbox][name=article]");
        if (!tick) return queueSay("#" + row.id.replace("article-row-", "") + " is not pending review");
        if (!tick.checked) {
          tick.checked = true;
          tick.dispatchEvent(new Event("change", { bubbles: true }));
        }
        if (reason) reason.focus();
      }
    } else {
      return;
    }
    evt.preventDefault();
  });

  // --- section: agents -----------------------------------------------------------------------------------
  // The one-time new key: "Copy key" puts it on the clipboard (or, where the Clipboard API is missing or
  // refused, selects it for Ctrl+C / the copy command) and says what happened in a live region.
  function copyFallback(field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest(".copy-key");
    if (!button) return;
    var field = document.getElementById(button.dataset.copyTarget);
    var status = document.getElementById(button.dataset.copyStatus);
    if (!field) return;
    function say(words) { if (status) status.textContent = words; }
    function fallback() {
      say(copyFallback(field) ? "Copied" : "Selected: press Ctrl+C (⌘C) to copy");
    }
    say("");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { say("Copied"); }, fallback);
    } else {
      fallback();
    }
  });

  // --- section: article ----------------------------------------------------------------------------------
  // "next try in 2 min (134 s)": the seconds count down between the page's refreshes.
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("data-countdown"));
      if (!isNaN(due)) element.textContent = Math.max(0, Math.round((due - now) / 1000)) + " s";
    });
  }, 1000);

  // Wide tables and code in the preview scroll inside their box: reachable by keyboard too.
  document.addEventListener("htmx:load", function (evt) {
    var root = evt.detail && evt.detail.elt ? evt.detail.elt : document;
    if (!root.querySelectorAll) return;
    root.querySelectorAll(".preview table, .preview pre").forEach(function (element) {
      element.setAttribute("tabindex", "0");
    });
  });

  // A refresh of #article-live keeps the reviewer's half-typed notes and reason (hx-preserve). A browser that
  // cannot move an element without blurring it loses the focus there: give it back, with the caret.
  var typing = null;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var active = document.activeElement;
    var region = evt.detail.target && evt.detail.target.id === "article-live";
    typing = region && active && active.id && active.hasAttribute("hx-preserve")
      ? { id: active.id, start: active.selectionStart, end: active.selectionEnd } : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (!typing) return;
    var element = document.getElementById(typing.id);
    if (element && document.activeElement !== element) {
      element.focus();
      try { element.setSelectionRange(typing.start, typing.end); } catch (e) { /* not a text field */ }
    }
    typing = null;
  });
})();
