/*
 * The drill checklist runner (Watchpost, issue 7, A9-M4.2). Plain script: no build step,
 * nothing fetched from outside the collector (it runs on the intranet).
 *
 * - The state lives on the server: the page polls GET /api/v1/drills/{id}/state, so a reload
 *   or a second device shows the same drill.
 * - Every action (start, step started/done/failed/skipped, a note, an inject revealed, finish)
 *   is queued in localStorage with an id made here and the time it was taken (corrected for
 *   the clock difference with the server), and posted to POST /api/v1/drills/{id}/events
 *   until the server acknowledges it. The server stores each id once, so retries are safe;
 *   queued actions are shown at once, marked as waiting, and survive a reload while offline.
 */
(function () {
  "use strict";
  var root = document.getElementById("runner");
  if (!root) return;
  var drillId = root.getAttribute("data-drill");
  var csrf = root.getAttribute("data-csrf");
  var lang = root.getAttribute("data-lang") === "en" ? "en" : "zh-CN";
  var canWrite = root.getAttribute("data-can-write") === "1";
  var zone = root.getAttribute("data-zone") || "Asia/Shanghai";
  var T = JSON.parse(document.getElementById("runner-text").textContent);
  var state = JSON.parse(document.getElementById("drill-state").textContent);
  var QKEY = "watchpost.drill." + drillId + ".queue";
  var POLL_MS = 3000, MAX_BACKOFF = 30000, BATCH = 50;
  var queue = loadQueue();
  var skew = Date.parse(state.now) - Date.now();
  var sending = false, retryTimer = null, backoff = 1000, connection = "online", finishArmed = null;
  var stepNodes = {};

  // -- small helpers ----------------------------------------------------------------------------
  function t(key, values) {
    var text = T[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function serverNow() { return new Date(Date.now() + skew); }
  function clockTime(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN", { timeZone: zone, hour12: false });
  }
  function hms(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var parts = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
    return parts.map(function (n) { return (n < 10 ? "0" : "") + n; }).join(":");
  }
  function minutes(value) { return value === null || value === undefined ? "—" : t("minutes", { n: value }); }
  function loadQueue() {
    try { return JSON.parse(window.localStorage.getItem(QKEY) || "[]"); } catch (e) { return []; }
  }
  function saveQueue() {
    try { window.localStorage.setItem(QKEY, JSON.stringify(queue)); } catch (e) { /* private mode: memory only */ }
  }
  function message(text) {
    var list = document.getElementById("messages");
    var item = el("li", "error", text);
    list.insertBefore(item, list.firstChild);
  }

  // -- the view: the server's state with the queued actions on top ------------------------------
  function view() {
    var v = JSON.parse(JSON.stringify(state));
    var steps = {};
    v.phases.forEach(function (p) { p.steps.forEach(function (s) { steps[s.key] = s; }); });
    queue.forEach(function (e) {
      if (e.kind === "start" && v.status === "planned") { v.status = "running"; v.started_at = e.at; }
      else if (e.kind === "finish" && v.status === "running") { v.status = "finished"; v.ended_at = e.at; }
      else if (e.kind === "step" && steps[e.step_key]) {
        var s = steps[e.step_key];
        if (e.status) {
          s.status = e.status;
          s.started_at = s.started_at || e.at;
          s.resolved_at = e.status === "started" ? null : e.at;
          s.by = e.performer || t("me_short");
        }
        if (e.text) s.notes = s.notes.concat([e.text]);
        s.pending = true;
      } else if (e.kind === "inject") {
        v.injects.forEach(function (i) {
          if (i.key === e.inject_key && !i.revealed) { i.revealed = true; i.revealed_at = e.at; i.how = "hand"; i.pending = true; }
        });
      }
      v.log.push({ at: e.at, kind: e.kind, step_key: e.step_key || "", status: e.status || "", inject_key: e.inject_key || "",
                   text: e.text || "", actor: "", performer: e.performer || "", pending: true });
    });
    return v;
  }

  // -- building and updating the page -----------------------------------------------------------
  function buildPhases() {
    var box = document.getElementById("phases");
    state.phases.forEach(function (phase) {
      var section = el("section", "panel phase");
      section.setAttribute("data-phase", phase.phase);
      var head = el("h2", null, t("phase." + phase.phase));
      var target = el("small", "target", t("target_n", { n: phase.target_minutes }));
      head.appendChild(target);
      section.appendChild(head);
      var list = el("ol", "steps");
      phase.steps.forEach(function (step) {
        var item = el("li", "step");
        item.setAttribute("data-step", step.key);
        var text = el("div", "text", lang === "en" && step.text_en ? step.text_en : step.text_zh);
        if (step.role) text.appendChild(el("span", "role", step.role));
        item.appendChild(text);
        var status = el("span", "status badge");
        var meta = el("span", "meta");
        var line = el("div", "line");
        line.appendChild(status);
        line.appendChild(meta);
        item.appendChild(line);
        var notes = el("ul", "notes");
        item.appendChild(notes);
        var buttons = [];
        if (canWrite) {
          var bar = el("div", "buttons");
          ["started", "done", "failed", "skipped"].forEach(function (act) {
            var button = el("button", "act " + act, t("act." + act));
            button.type = "button";
            button.setAttribute("data-act", act);
            button.addEventListener("click", function () { enqueue({ kind: "step", step_key: step.key, status: act }); });
            bar.appendChild(button);
            buttons.push(button);
          });
          var note = el("input", "note");
          note.maxLength = 2000;
          note.placeholder = t("note");
          var add = el("button", "note-add", t("add_step_note"));
          add.type = "button";
          add.addEventListener("click", function () {
            if (!note.value.trim()) return;
            enqueue({ kind: "step", step_key: step.key, status: "", text: note.value.trim() });
            note.value = "";
          });
          bar.appendChild(note);
          bar.appendChild(add);
          buttons.push(add);
          item.appendChild(bar);
        }
        list.appendChild(item);
        stepNodes[step.key] = { item: item, status: status, meta: meta, notes: notes, buttons: buttons };
      });
      section.appendChild(list);
      box.appendChild(section);
    });
  }

  function stepText(key) {
    var found = null;
    state.phases.forEach(function (p) { p.steps.forEach(function (s) { if (s.key === key) found = s; }); });
    return found ? (lang === "en" && found.text_en ? found.text_en : found.text_zh) : key;
  }
  function injectText(inject) { return lang === "en" && inject.text_en ? inject.text_en : inject.text_zh; }

  function renderSteps(v) {
    var running = v.status === "running";
    v.phases.forEach(function (phase) {
      phase.steps.forEach(function (step) {
        var node = stepNodes[step.key];
        if (!node) return;
        node.item.setAttribute("data-status", step.status || "open");
        node.item.classList.toggle("pending", !!step.pending);
        node.status.textContent = t("status." + (step.status || "open"));
        var when = step.resolved_at || step.started_at;
        node.meta.textContent = [when ? clockTime(when) : "", step.by || "", step.pending ? t("pending") : ""]
          .filter(Boolean).join(" · ");
        node.notes.textContent = "";
        step.notes.forEach(function (text) { node.notes.appendChild(el("li", null, text)); });
        node.buttons.forEach(function (b) { b.disabled = !running; });
      });
    });
  }

  function renderInjects(v) {
    var shown = document.getElementById("injects");
    var upcoming = document.getElementById("upcoming");
    shown.textContent = "";
    if (upcoming) upcoming.textContent = "";
    v.injects.forEach(function (inject) {
      if (inject.revealed) {
        var item = el("li", "inject" + (inject.pending ? " pending" : ""));
        item.setAttribute("data-inject", inject.key);
        item.appendChild(el("strong", null, clockTime(inject.revealed_at) + " "));
        item.appendChild(el("span", null, injectText(inject)));
        item.appendChild(el("small", null, " " + t(inject.how === "auto" ? "auto" : "hand")));
        shown.appendChild(item);
      } else if (upcoming) {
        var row = el("li", "inject upcoming");
        row.setAttribute("data-inject", inject.key);
        row.appendChild(el("span", null, t("at_minute", { n: inject.at_minute }) + " " + injectText(inject) + " "));
        var reveal = el("button", "reveal", t("reveal"));
        reveal.type = "button";
        reveal.setAttribute("data-inject", inject.key);
        reveal.disabled = v.status !== "running";
        reveal.addEventListener("click", function () { enqueue({ kind: "inject", inject_key: inject.key }); });
        row.appendChild(reveal);
        upcoming.appendChild(row);
      }
    });
    if (!shown.firstChild) shown.appendChild(el("li", "empty", t("no_injects")));
  }

  function renderLog(v) {
    var log = document.getElementById("log");
    log.textContent = "";
    var injects = {};
    v.injects.forEach(function (i) { injects[i.key] = i; });
    v.log.slice().reverse().forEach(function (entry) {
      var item = el("li", "entry " + entry.kind + (entry.pending ? " pending" : ""));
      var what = t("kind." + entry.kind);
      if (entry.kind === "step") what += "：" + stepText(entry.step_key) + (entry.status ? " → " + t("status." + entry.status) : "");
      if (entry.kind === "inject" && injects[entry.inject_key]) what += "：" + injectText(injects[entry.inject_key]);
      if (entry.text && entry.kind !== "inject") what += "（" + entry.text + "）";
      item.appendChild(el("time", null, clockTime(entry.at) + " "));
      item.appendChild(el("span", null, what));
      var who = entry.performer || entry.actor;
      if (who || entry.pending) item.appendChild(el("small", null, " " + [who, entry.pending ? t("pending") : ""].filter(Boolean).join(" · ")));
      log.appendChild(item);
    });
  }

  function renderMetrics() {
    var m = state.metrics;
    document.getElementById("m-detect").textContent = minutes(m.time_to_detect);
    var report = minutes(m.time_to_report);
    if (m.report_in_time !== null) report += " · " + t(m.report_in_time ? "in_time" : "late");
    document.getElementById("m-report").textContent = report;
    document.getElementById("m-contain").textContent = minutes(m.time_to_contain);
    document.getElementById("m-recover").textContent = minutes(m.time_to_recover);
    document.getElementById("m-steps").textContent = t("steps_count", {
      done: m.steps_done, total: m.steps_total, failed: m.steps_failed.length, skipped: m.steps_skipped.length });
  }

  function renderSync() {
    var box = document.getElementById("sync");
    var n = queue.length;
    var key = connection === "login" ? "login" : connection === "offline" ? "offline" : n ? "sending" : "synced";
    box.className = "sync " + key;
    box.textContent = t(key, { n: n });
  }

  function renderHead(v) {
    var status = document.getElementById("run-status");
    status.textContent = t("dstatus." + v.status);
    status.className = "badge drill-" + v.status;
    root.setAttribute("data-status", v.status);
    var start = document.getElementById("start"), finish = document.getElementById("finish");
    if (start) start.hidden = v.status !== "planned";
    if (finish) finish.hidden = v.status !== "running";
    var deadline = document.getElementById("deadline");
    var text = t("deadline", { level: state.level_name, hours: state.report_within_hours, to: state.report_to });
    var detect = state.metrics.phases.filter(function (p) { return p.phase === "detect"; })[0];
    var report = state.metrics.phases.filter(function (p) { return p.phase === "report"; })[0];
    if (v.status === "running" && state.report_within_hours && detect && detect.ended_at && report && !report.ended_at) {
      var left = Date.parse(detect.ended_at) + state.report_within_hours * 3600000 - serverNow().getTime();
      text += " · " + (left >= 0 ? t("report_left", { time: hms(left) }) : t("report_over", { time: hms(-left) }));
    }
    deadline.textContent = text;
  }

  function tick() {
    var v = view();
    var clock = document.getElementById("clock");
    if (!v.started_at) { clock.textContent = "00:00:00"; return; }
    var end = v.ended_at ? Date.parse(v.ended_at) : serverNow().getTime();
    clock.textContent = hms(end - Date.parse(v.started_at));
  }

  function render() {
    var v = view();
    renderHead(v);
    renderSteps(v);
    renderInjects(v);
    renderLog(v);
    renderMetrics();
    renderSync();
    tick();
  }

  // -- talking to the server --------------------------------------------------------------------
  function accept(fresh) {
    if (!fresh || !fresh.phases) return;
    skew = Date.parse(fresh.now) - Date.now();
    if (fresh.revision < state.revision) return; // an older answer overtaken by a newer one
    state = fresh;
  }

  function enqueue(action) {
    if (!canWrite) return;
    var performer = document.getElementById("performer");
    action.client_id = newId();
    action.at = serverNow().toISOString();
    action.performer = performer ? performer.value : "";
    queue.push(action);
    saveQueue();
    render();
    flushSoon();
  }

  function flushSoon() {
    window.clearTimeout(retryTimer);
    backoff = 1000;
    flush();
  }

  function drop(batch, detail) {
    var ids = {};
    batch.forEach(function (e) { ids[e.client_id] = true; });
    queue = queue.filter(function (e) { return !ids[e.client_id]; });
    saveQueue();
    message(t("dropped", { n: batch.length, detail: detail }));
  }

  function flush() {
    if (sending || !queue.length) return;
    sending = true;
    renderSync();
    var batch = queue.slice(0, BATCH);
    window.fetch("/api/v1/drills/" + drillId + "/events", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ events: batch })
    }).then(function (response) {
      if (response.status === 200) {
        return response.json().then(function (body) {
          var handled = {};
          body.results.forEach(function (r) {
            handled[r.client_id] = true;
            if (r.outcome === "rejected") message(t("rejected", { detail: r.detail }));
          });
          queue = queue.filter(function (e) { return !handled[e.client_id]; });
          saveQueue();
          connection = "online";
          backoff = 1000;
          accept(body.state);
        });
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        var code = body.error || "";
        if (response.status === 401 || code === "csrf_failed") { connection = "login"; throw new Error(code); }
        if (response.status === 403 || response.status === 404 || response.status === 422) {
          connection = "online";
          drop(batch, body.detail || String(response.status));
          return;
        }
        throw new Error("HTTP " + response.status); // 409 retry, 5xx, a proxy's error page: try again
      });
    }).then(function () {
      sending = false;
      render();
      if (queue.length) flush();
    }, function () {
      sending = false;
      if (connection !== "login") connection = "offline";
      render();
      window.clearTimeout(retryTimer);
      retryTimer = window.setTimeout(flush, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF);
    });
  }

  function poll() {
    window.fetch("/api/v1/drills/" + drillId + "/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { connection = "login"; render(); return; }
        if (response.status !== 200) return;
        return response.json().then(function (fresh) {
          if (connection === "offline") { connection = "online"; if (queue.length) flushSoon(); }
          accept(fresh);
          render();
        });
      })
      .catch(function () { if (connection !== "login") connection = "offline"; renderSync(); });
  }

  // -- wiring -----------------------------------------------------------------------------------
  buildPhases();
  var startButton = document.getElementById("start");
  if (startButton) startButton.addEventListener("click", function () { enqueue({ kind: "start" }); });
  var finishButton = document.getElementById("finish");
  if (finishButton) {
    finishButton.addEventListener("click", function () {
      if (!finishArmed) {  // a second click within five seconds confirms
        finishButton.textContent = t("finish_confirm");
        finishButton.classList.add("armed");
        finishArmed = window.setTimeout(function () {
          finishArmed = null;
          finishButton.textContent = t("finish");
          finishButton.classList.remove("armed");
        }, 5000);
        return;
      }
      window.clearTimeout(finishArmed);
      finishArmed = null;
      finishButton.textContent = t("finish");
      finishButton.classList.remove("armed");
      enqueue({ kind: "finish" });
    });
  }
  var noteButton = document.getElementById("note-add");
  if (noteButton) {
    noteButton.addEventListener("click", function () {
      var input = document.getElementById("note-text");
      if (!input.value.trim()) return;
      enqueue({ kind: "note", text: input.value.trim() });
      input.value = "";
    });
  }
  window.addEventListener("online", flushSoon);
  render();
  flush();
  window.setInterval(poll, POLL_MS);
  window.setInterval(tick, 500);
})();
