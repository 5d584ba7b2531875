// veille serve: seeking, the zoomable timeline, keyboard, live updates. No library, no build step.
(function () {
  "use strict";
  var $ = function (s, root) { return (root || document).querySelector(s); };
  var $$ = function (s, root) { return Array.prototype.slice.call((root || document).querySelectorAll(s)); };
  var player = $("#player");

  function seek(t) {
    if (!player || isNaN(t)) return;
    var go = function () { player.currentTime = t; };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }

  // The codec: a browser that cannot play it fires "error"; say so and leave the keyframes and clip.
  if (player) {
    var failed = function () {
      player.hidden = true;
      var note = $("#cannot-play");
      if (note) note.hidden = false;
    };
    player.addEventListener("error", failed);
    if (player.error) failed();
    var mime = player.dataset.mime;
    if (mime && player.canPlayType(mime) === "") failed();
    var start = parseFloat(player.dataset.seek || new URLSearchParams(location.search).get("t"));
    if (!isNaN(start)) seek(start);
  }

  // The event list: a click seeks to the event; j / k select the next / previous one.
  var items = $$(".events > li[data-start]");
  var current = -1;
  function select(i, doSeek) {
    if (!items.length) return;
    i = Math.max(0, Math.min(items.length - 1, i));
    if (current >= 0 && items[current]) items[current].classList.remove("current");
    current = i;
    items[i].classList.add("current");
    items[i].scrollIntoView({ block: "nearest" });
    $$(".tl-ev").forEach(function (a) { a.classList.toggle("current", a.dataset.number === items[i].dataset.number); });
    if (doSeek !== false) seek(parseFloat(items[i].dataset.start));
  }
  items.forEach(function (li, i) {
    li.addEventListener("click", function (e) { if (!e.target.closest("a")) select(i); });
  });
  if (items.length && location.hash) {
    var at = items.findIndex(function (li) { return "#" + li.id === location.hash; });
    if (at >= 0) select(at, !new URLSearchParams(location.search).has("t"));
  }

  // The timeline: its viewBox spans [x0, x0 + w] seconds; zoom with the buttons or the wheel, click to seek.
  var svg = $("#tl-svg");
  if (svg) {
    var duration = parseFloat($("#timeline").dataset.duration) || 1;
    var x0 = 0, w = duration;
    var cursor = $("#tl-cursor"), ticksBox = $("#tl-ticks");
    var label = function (t) {
      var s = Math.floor(t), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
      var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
      return h ? h + ":" + mm : mm;
    };
    var draw = function () {
      svg.setAttribute("viewBox", x0 + " 0 " + w + " 100");
      var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
      var step = steps.find(function (s) { return w / s <= 6; }) || 14400;
      ticksBox.textContent = "";
      for (var t = Math.ceil(x0 / step) * step; t <= x0 + w; t += step) {
        var span = document.createElement("span");
        span.style.left = (100 * (t - x0) / w) + "%";
        span.textContent = label(t);
        ticksBox.appendChild(span);
      }
    };
    var zoom = function (factor, centre) {
      var nw = Math.max(Math.min(w * factor, duration), Math.min(duration, 2));
      x0 = Math.max(0, Math.min(duration - nw, centre - (centre - x0) * nw / w));
      w = nw;
      draw();
    };
    var timeAt = function (clientX) {
      var box = svg.getBoundingClientRect();
      return x0 + (clientX - box.left) / box.width * w;
    };
    $$("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var centre = player && !player.hidden ? player.currentTime : x0 + w / 2;
        if (b.dataset.zoom === "in") zoom(0.5, centre);
        else if (b.dataset.zoom === "out") zoom(2, centre);
        else { x0 = 0; w = duration; draw(); }
      });
    });
    svg.addEventListener("wheel", function (e) { e.preventDefault(); zoom(e.deltaY < 0 ? 0.8 : 1.25, timeAt(e.clientX)); }, { passive: false });
    svg.addEventListener("click", function (e) {
      var ev = e.target.closest(".tl-ev");
      e.preventDefault();
      if (ev) {
        var i = items.findIndex(function (li) { return li.dataset.number === ev.dataset.number; });
        if (i >= 0) select(i); else seek(parseFloat(ev.dataset.start));
      } else {
        seek(timeAt(e.clientX));
      }
    });
    if (player) player.addEventListener("timeupdate", function () {
      cursor.setAttribute("x1", player.currentTime);
      cursor.setAttribute("x2", player.currentTime);
    });
    draw();
  }

  // A thumbnail that cannot be had (a keyframe gone from its report folder) leaves a blank, not a broken image.
  $$("img.thumb").forEach(function (img) {
    var blank = function () { img.style.visibility = "hidden"; };
    img.addEventListener("error", blank);
    if (img.complete && img.naturalWidth === 0) blank();
  });

  // Keyboard: j / k next / previous (event, or card of a list, or event page), space play / pause.
  var cards = $$("[data-nav] > li");
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || (e.target.closest && e.target.closest("input, textarea, select"))) return;
    var step = e.key === "j" ? 1 : e.key === "k" ? -1 : 0;
    if (step) {
      e.preventDefault();
      if (items.length) { select(current < 0 ? 0 : current + step); return; }
      var link = $(step > 0 ? "a[rel=next]" : "a[rel=prev]");
      if (link) { location.href = link.href; return; }
      if (cards.length) {
        var now = cards.findIndex(function (c) { return c.contains(document.activeElement); });
        var next = cards[Math.max(0, Math.min(cards.length - 1, now < 0 ? 0 : now + step))];
        var a = next && $("a", next);
        if (a) a.focus();
      }
    } else if (e.key === " " && player && !player.hidden && !(e.target.closest && e.target.closest("button, a"))) {
      e.preventDefault();
      if (player.paused) player.play(); else player.pause();
    }
  });

  // Live updates: the home page's list is fetched again whenever the archive changed.
  var list = $("#videos[data-live]");
  if (list && window.EventSource) {
    var source = new EventSource("/live");
    source.addEventListener("archive", function () {
      fetch(list.dataset.live, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null) return;
        list.innerHTML = html;
        cards = $$("[data-nav] > li");
        var note = $("#live-note");
        if (note) note.hidden = false;
      });
    });
  }
})();
