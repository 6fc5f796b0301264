// Window evaluator and kiosk page. Which device this is lives in localStorage (entered once on the
// setup screen). Ratings are queued in localStorage before they are sent and leave the queue only
// once the server has answered, so a network cut loses none; each carries its idempotency key, so
// sending one twice stores it once.
//
// The screen is a state machine (docs/devices.md). Every change of screen goes through go(event),
// which looks the pair up in TRANSITIONS; a pair not in the table is ignored, so an announcement
// can never replace a rating half done.
//
//   state                            event             next        what happens
//   -------------------------------  ----------------  ----------  --------------------------------------
//   setup                            saved             idle        the server accepted the key typed in
//   setup                            cancel            idle        only with a key stored (opened by PIN)
//   pin                              ok                setup       the admin PIN was right
//   pin                              cancel / timeout  idle
//   idle                             announce          rating      a record announced, not rated or let go
//   idle                             kiosk             kiosk       a kiosk's scan / type buttons
//   idle, kiosk, withdrawn, thanks   admin             pin         3-second press on the 评 seal
//   kiosk                            found             rating      the server matched QR or 办件编号 + tail
//   kiosk                            cancel / timeout  idle
//   rating                           rated             thanks      level 3-5: queued and sent
//   rating                           bad               reasons     level 1-2: a reason must be chosen
//   reasons                          back              rating
//   reasons                          rated             thanks
//   rating, reasons                  timeout           idle        nothing stored; not offered again
//   rating, reasons                  withdrawn         withdrawn   the record left the device: shown
//   withdrawn                        done              idle        知道了, or after `idleAfterMs`
//   thanks                           done              idle        after `idleAfterMs`
//   any but setup                    unauthorised      setup       the server refused the key
//
// (docs/devices.md has the same table; a browser test holds TRANSITIONS to it.)
// A record announced while a rating is under way is not in the table for rating/reasons: it waits
// (body[data-next] names it) and the next poll after the rating ends or times out offers it.
(function () {
  "use strict";
  var APP_VERSION = "2026.11.30";
  var config = JSON.parse(document.getElementById("device-config").textContent);
  var KEY = "haochaping.device.key";
  var INFO = "haochaping.device.info";
  var QUEUE = "haochaping.device.queue";
  var RATED = "haochaping.device.rated";
  var DISMISSED = "haochaping.device.dismissed";
  var REJECTED = "haochaping.device.rejected";
  var LONG_PRESS_MS = 3000;
  var VOICE_TEXT = "请您对我的服务做出评价";

  var TRANSITIONS = {
    loading: { saved: "idle", setup: "setup", ready: "idle" },
    setup: { saved: "idle", cancel: "idle" },
    pin: { ok: "setup", cancel: "idle", timeout: "idle", unauthorised: "setup" },
    idle: { announce: "rating", kiosk: "kiosk", admin: "pin", unauthorised: "setup" },
    kiosk: { found: "rating", cancel: "idle", timeout: "idle", admin: "pin", unauthorised: "setup" },
    rating: { bad: "reasons", rated: "thanks", timeout: "idle", withdrawn: "withdrawn", unauthorised: "setup" },
    reasons: { back: "rating", rated: "thanks", timeout: "idle", withdrawn: "withdrawn", unauthorised: "setup" },
    withdrawn: { done: "idle", admin: "pin", unauthorised: "setup" },
    thanks: { done: "idle", admin: "pin", unauthorised: "setup" },
  };
  // Which section shows each state; the rating screen has two steps.
  var SCREEN = {
    loading: "idle", setup: "setup", pin: "pin", idle: "idle", kiosk: "kiosk",
    rating: "rate", reasons: "rate", withdrawn: "withdrawn", thanks: "thanks",
  };
  // States that wait for the citizen, and so time out.
  var TIMED = { kiosk: true, rating: true, reasons: true, pin: true };

  // Read-only, for the test that holds this table to the one in docs/devices.md.
  window.deviceStateMachine = Object.freeze({ transitions: TRANSITIONS });

  var body = document.body;
  var state = "loading";
  var current = null;          // the record being rated (rating, reasons)
  var chosenLevel = null;
  var chosenTags = [];
  var inactivity = null;
  var afterTimer = null;
  var draining = null;
  var scanning = null;

  function $(id) { return document.getElementById(id); }
  function load(name, fallback) {
    try { var raw = localStorage.getItem(name); return raw ? JSON.parse(raw) : fallback; }
    catch (e) { return fallback; }
  }
  function save(name, value) { localStorage.setItem(name, JSON.stringify(value)); }
  function deviceKey() { return localStorage.getItem(KEY) || ""; }
  function recordKey(r) { return r.project_no + "#" + r.service_number; }
  function offerKey(data) { return recordKey(data.record) + "@" + (data.announced_at || ""); }
  function remember(name, value) {
    var list = load(name, []);
    if (list.indexOf(value) < 0) list.push(value);
    save(name, list.slice(-200));
  }

  // --- the state machine ------------------------------------------------------------------------

  function go(event) {
    var next = (TRANSITIONS[state] || {})[event];
    if (!next) return false;
    var previous = state;
    state = next;
    var screen = SCREEN[next];
    ["setup", "pin", "idle", "kiosk", "rate", "withdrawn", "thanks"].forEach(function (name) {
      $("screen-" + name).hidden = name !== screen;
    });
    $("step-levels").hidden = next !== "rating";
    $("step-reasons").hidden = next !== "reasons";
    body.setAttribute("data-screen", screen);
    body.setAttribute("data-state", next);
    clearTimeout(afterTimer);
    if (next !== "rating" && next !== "reasons") {
      if (previous === "rating" || previous === "reasons") current = null;
    }
    if (next !== "kiosk") stopScan();
    if (next === "thanks" || next === "withdrawn") {
      afterTimer = setTimeout(function () { go("done"); poll(); }, config.idleAfterMs);
    }
    if (next === "idle") {
      body.setAttribute("data-next", "");
      $("k-next").hidden = true;
    }
    touched();
    return true;
  }

  // Any touch restarts the inactivity clock of the states that wait for the citizen.
  function touched() {
    clearTimeout(inactivity);
    if (!TIMED[state]) return;
    var waitingFor = state;
    inactivity = setTimeout(function () { timedOut(waitingFor); }, config.timeoutMs);
  }

  function timedOut(waitingFor) {
    if (state !== waitingFor) return;
    if (current && (state === "rating" || state === "reasons")) {
      // Nothing is stored, and this announcement is not offered again (announcing the record
      // again offers it again: it carries a new announced_at).
      remember(DISMISSED, current.offer);
    }
    $("kiosk-form").reset();
    go("timeout");
    poll();
  }

  ["pointerdown", "keydown", "input"].forEach(function (type) {
    document.addEventListener(type, touched, { passive: true, capture: true });
  });

  // --- the bar and the footer -------------------------------------------------------------------

  function setOnline(online) {
    body.setAttribute("data-online", online ? "true" : "false");
    $("net-state").textContent = online ? "● 网络正常" : "● 网络中断，评价将保存在本机";
  }

  function updatePending() {
    var count = load(QUEUE, []).length;
    body.setAttribute("data-pending", String(count));
    var note = $("pending-note");
    note.hidden = count === 0;
    note.textContent = "待提交评价 " + count + " 条";
  }

  function showDevice(info) {
    if (!info) return;
    var place = info.window_no ? info.window_no + " " + (info.window_name || "窗口") : (info.name || "自助评价终端");
    $("k-window").textContent = place + (info.hall ? " · " + info.hall : "");
    $("k-device").textContent = "设备 " + info.device_id;
    body.setAttribute("data-kind", info.kind || "");
    var kiosk = info.kind === "kiosk";
    $("kiosk-start").hidden = !kiosk;
    $("idle-lead").textContent = kiosk
      ? "请扫描办件回执上的二维码，或输入办件编号，为您办理的业务评价"
      : "业务办理完成后，请在这里为本次服务评价";
    $("promise-box").hidden = !info.service_promise;
    $("promise-text").textContent = info.service_promise || "";
    $("complaint-phone").textContent = info.complaint_phone || "12345";
  }

  function randomKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // available on plain http too, unlike crypto.randomUUID
    return "dev-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // --- sending the queue ------------------------------------------------------------------------

  async function drain() {
    for (;;) {
      var queue = load(QUEUE, []);
      if (!queue.length) break;
      var item = queue[0];
      var answer;
      try {
        answer = await fetch("/api/v1/evaluations", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Device-Key": item.device_key },
          body: JSON.stringify(item.rating),
          cache: "no-store",
        });
      } catch (e) {
        setOnline(false);
        break;
      }
      setOnline(true);
      // Server trouble or a key not (yet) accepted: keep the rating and try again later.
      if (answer.status >= 500 || answer.status === 429 || answer.status === 401) break;
      if (!answer.ok) {
        // Refused for good (window closed, already rated …): sending it again cannot help.
        var reason = "";
        try { reason = (await answer.json()).message || ""; } catch (e) { reason = ""; }
        var rejected = load(REJECTED, []);
        rejected.push({ rating: item.rating, status: answer.status, message: reason });
        save(REJECTED, rejected.slice(-50));
      }
      save(QUEUE, load(QUEUE, []).filter(function (queued) {
        return queued.rating.idempotency_key !== item.rating.idempotency_key;
      }));
      updatePending();
    }
    updatePending();
  }

  function flush() {
    if (!draining) {
      draining = drain().finally(function () { draining = null; });
    }
    return draining;
  }

  // --- what the window system announced ---------------------------------------------------------

  function api(path, options) {
    options = options || {};
    var headers = { "X-Device-Key": deviceKey() };
    if (options.body) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
      cache: "no-store",
    });
  }

  async function poll() {
    flush();
    if (!deviceKey()) { if (state !== "setup") showSetup("", false); return; }
    var answer;
    var sentAt = Date.now();
    try {
      answer = await api("/api/v1/devices/current");
    } catch (e) {
      setOnline(false);
      go("ready");
      return;
    }
    setOnline(true);
    if (answer.status === 401) {
      localStorage.removeItem(KEY);
      showSetup("设备密钥无效或设备已停用，请重新输入。", false);
      return;
    }
    if (!answer.ok) return;
    var data = await answer.json();
    save(INFO, data);
    showDevice(data);
    go("ready");
    // An answer to a question asked before the screen took its record says nothing about it.
    if (current && sentAt < current.shownAt) return;
    offered(data);
  }

  // What the server offers, against what the screen is doing.
  function offered(data) {
    var ready = data.state === "ready";
    if (state === "rating" || state === "reasons") {
      if (ready && recordKey(data.record) === recordKey(current)) return;
      if (ready) {
        // Another record was announced: it waits until this rating ends.
        body.setAttribute("data-next", recordKey(data.record));
        $("k-next").hidden = false;
        return;
      }
      // The record being rated is no longer offered: withdrawn (or rated elsewhere).
      go("withdrawn");
      return;
    }
    if (state !== "idle" || !ready) return;
    var rated = load(RATED, []);
    var dismissed = load(DISMISSED, []);
    if (rated.indexOf(recordKey(data.record)) >= 0 || dismissed.indexOf(offerKey(data)) >= 0) return;
    showRecord(data, "announce");
  }

  function showRecord(data, event) {
    var record = data.record;
    current = {
      project_no: record.project_no,
      service_number: record.service_number,
      offer: offerKey(data),
      shownAt: Date.now(),
    };
    chosenLevel = null;
    chosenTags = [];
    $("k-item").textContent = record.item_name;
    var meta = $("k-meta");
    meta.textContent = "";
    var parts = [record.department_name, record.record_name, record.occurred_text, "办件编号 " + record.project_no];
    parts.filter(Boolean).forEach(function (text) {
      var part = document.createElement("span");
      part.textContent = text;
      meta.appendChild(part);
    });
    showStaff(data.staff);
    if (go(event)) speak(data);
  }

  function showStaff(staff) {
    $("k-staff").hidden = !staff;
    if (!staff) return;
    $("staff-name").textContent = staff.name;
    $("staff-no").textContent = staff.staff_no;
    var stars = Math.max(0, Math.min(5, staff.star_level || 0));
    var starBox = $("staff-stars");
    starBox.hidden = stars === 0;
    starBox.textContent = "★★★★★".slice(0, stars) + "☆☆☆☆☆".slice(0, 5 - stars);
    starBox.setAttribute("aria-label", "服务星级 " + stars + " 星");
    var photo = $("staff-photo");
    var initial = $("staff-initial");
    photo.hidden = !staff.photo_url;
    initial.hidden = !!staff.photo_url;
    initial.textContent = (staff.name || "").charAt(0);
    if (staff.photo_url) {
      photo.alt = staff.name + "的照片";
      photo.onerror = function () { photo.hidden = true; initial.hidden = false; };
      photo.src = staff.photo_url;
    } else {
      photo.removeAttribute("src");
    }
  }

  // The device's own setting (Device.voice_prompts): Mandarin speech synthesis, when there is one.
  function speak(data) {
    if (!data.voice_prompts || !("speechSynthesis" in window)) return;
    try {
      var utterance = new SpeechSynthesisUtterance(VOICE_TEXT);
      utterance.lang = "zh-CN";
      var voice = window.speechSynthesis.getVoices().filter(function (v) {
        return /^zh(-|_)?CN/i.test(v.lang) || /^cmn/i.test(v.lang);
      })[0];
      if (voice) utterance.voice = voice;
      window.speechSynthesis.cancel();
      window.speechSynthesis.speak(utterance);
    } catch (e) { /* no voice on this device: the screen says it too */ }
  }

  // --- rating -----------------------------------------------------------------------------------

  function chooseLevel(level) {
    if (!current || state !== "rating") return;
    if (level > 2) { submit(level, []); return; }
    chosenLevel = level;
    chosenTags = [];
    $("chosen-text").textContent = { 1: "非常不满意", 2: "不满意" }[level];
    var chips = $("reason-chips");
    chips.textContent = "";
    (config.tags[level] || []).forEach(function (tag) {
      var chip = document.createElement("button");
      chip.type = "button";
      chip.className = "k-chip";
      chip.textContent = tag.text;
      chip.setAttribute("aria-pressed", "false");
      chip.addEventListener("click", function () {
        var on = chosenTags.indexOf(tag.code) < 0;
        chosenTags = on ? chosenTags.concat([tag.code]) : chosenTags.filter(function (c) { return c !== tag.code; });
        chip.setAttribute("aria-pressed", on ? "true" : "false");
        reasonsChosen();
      });
      chips.appendChild(chip);
    });
    reasonsChosen();
    go("bad");
  }

  // The grey 提交评价 stays tappable and says why it is grey (a disabled button would say nothing).
  function reasonsChosen() {
    var none = chosenTags.length === 0;
    $("reason-submit").setAttribute("aria-disabled", none ? "true" : "false");
    var hint = $("reason-hint");
    hint.classList.remove("shake");
    hint.textContent = none ? "请先选择至少一项原因，再点“提交评价”" : "已选择 " + chosenTags.length + " 项原因";
  }

  async function submit(level, tags) {
    var info = load(INFO, null);
    var record = current;
    var item = {
      device_key: deviceKey(),
      rating: {
        channel: info && info.kind === "kiosk" ? "kiosk" : "window",
        level: level,
        tags: tags,
        comment: "",
        assess_number: 1,
        idempotency_key: randomKey(),
        client_time: new Date().toISOString(),
        project_no: record.project_no,
        service_number: record.service_number,
      },
    };
    var queue = load(QUEUE, []);
    queue.push(item);
    save(QUEUE, queue);
    remember(RATED, recordKey(record));
    updatePending();
    $("thanks-note").textContent = "正在提交您的评价…";
    go("rated");
    await flush();
    var waiting = load(QUEUE, []).some(function (q) {
      return q.rating.idempotency_key === item.rating.idempotency_key;
    });
    $("thanks-note").textContent = waiting
      ? "网络暂时中断，您的评价已保存在本机，网络恢复后将自动提交，不会丢失。"
      : "您的评价已提交，我们会认真对待每一条意见。";
  }

  // --- a kiosk starts a rating itself -----------------------------------------------------------

  function kioskError(message) {
    var error = $("kiosk-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  async function kioskStart(body, onError) {
    var answer;
    try {
      answer = await api("/api/v1/devices/kiosk/start", { method: "POST", body: body });
    } catch (e) {
      onError("无法连接服务器，请稍后重试或向工作人员求助。");
      return;
    }
    var data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    if (!answer.ok || !data || data.state !== "ready") {
      onError((data && data.message) || "暂时无法开始评价，请向工作人员求助。");
      return;
    }
    $("kiosk-form").reset();
    kioskError("");
    showRecord(data, "found");
  }

  $("kiosk-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var projectNo = $("kiosk-project").value.trim().toUpperCase();
    var tail = $("kiosk-phone").value.trim();
    if (!projectNo) { kioskError("请输入办件编号。"); return; }
    if (!/^[0-9]{4}$/.test(tail)) { kioskError("请输入申请人手机号的后四位数字。"); return; }
    kioskStart({ project_no: projectNo, phone_tail: tail }, kioskError);
  });

  // The on-screen keyboard types into the kiosk field last touched (the phone tail takes digits).
  var keyTarget = null;
  ["kiosk-project", "kiosk-phone"].forEach(function (id) {
    $(id).addEventListener("focus", function () { keyTarget = $(id); });
  });
  document.querySelectorAll("#keypad .key").forEach(function (button) {
    // Keep the focus (and the caret) in the field: a key is not a place to stand.
    button.addEventListener("pointerdown", function (event) { event.preventDefault(); });
    button.addEventListener("click", function () {
      var input = keyTarget || $("kiosk-project");
      var key = button.getAttribute("data-key");
      if (key === "back") input.value = input.value.slice(0, -1);
      else if (key === "clear") input.value = "";
      else if (input.id !== "kiosk-phone" || /[0-9]/.test(key)) {
        if (input.value.length < Number(input.getAttribute("maxlength") || 64)) input.value += key;
      }
      if (input === $("kiosk-phone") && input.value.length === 4 && $("kiosk-project").value) {
        $("kiosk-go").focus();
      } else if (input === $("kiosk-phone") || document.activeElement !== input) {
        input.focus();
      }
    });
  });

  function openKiosk(scan) {
    if (!go("kiosk")) return;
    kioskError("");
    $("scan-box").hidden = !scan;
    keyTarget = $("kiosk-project");
    if (scan) startScan(); else $("kiosk-project").focus();
  }

  // The receipt's QR carries the rating link (…/r/{token}?src=qr); a bare 办件编号 is typed in.
  function scanned(text) {
    var match = /\/r\/([0-9A-Za-z._~-]+)/.exec(text || "");
    if (match) {
      stopScan();
      kioskStart({ rating_token: match[1] }, function (message) {
        $("scan-error").hidden = false;
        $("scan-error").textContent = message;
      });
      return true;
    }
    if (/^[0-9A-Za-z_-]{1,64}$/.test(text || "")) {
      stopScan();
      $("kiosk-project").value = text;
      $("kiosk-phone").focus();
      return true;
    }
    return false;
  }

  // The browser's BarcodeDetector where it exists; else the vendored jsQR, loaded only now.
  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = "/static/vendor/jsQR-1.4.0.js";
      script.onload = function () { resolve(window.jsQR); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  async function startScan() {
    var error = $("scan-error");
    error.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      error.hidden = false;
      error.textContent = "本机没有可用的摄像头，请输入办件编号。";
      return;
    }
    var session = { stream: null, stopped: false };
    scanning = session;
    try {
      session.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      if (session.stopped) { stopTracks(session); return; }
      var video = $("scan-video");
      video.srcObject = session.stream;
      await video.play();
      var detector = null;
      if ("BarcodeDetector" in window) {
        try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
      }
      var decode = detector ? null : await loadJsQR();
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      var frame = async function () {
        if (session.stopped) return;
        var text = null;
        if (video.readyState >= 2) {
          if (detector) {
            var codes = await detector.detect(video).catch(function () { return []; });
            text = codes.length ? codes[0].rawValue : null;
          } else {
            canvas.width = video.videoWidth;
            canvas.height = video.videoHeight;
            context.drawImage(video, 0, 0);
            var image = context.getImageData(0, 0, canvas.width, canvas.height);
            var code = decode(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
            text = code ? code.data : null;
          }
        }
        if (!(text && scanned(text)) && !session.stopped) setTimeout(frame, 200);
      };
      frame();
    } catch (e) {
      error.hidden = false;
      error.textContent = "无法打开摄像头，请输入办件编号和手机号后四位。";
    }
  }

  function stopTracks(session) {
    if (session.stream) session.stream.getTracks().forEach(function (t) { t.stop(); });
  }

  function stopScan() {
    if (!scanning) return;
    scanning.stopped = true;
    stopTracks(scanning);
    scanning = null;
    $("scan-video").srcObject = null;
  }

  // --- setup, behind a long-press and the admin PIN ---------------------------------------------

  function showSetup(message, canCancel) {
    var error = $("setup-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("setup-cancel").hidden = !canCancel;
    if (state !== "setup" && !go("setup") && !go("unauthorised")) {
      state = "setup";  // first start: no key yet
      ["setup", "pin", "idle", "kiosk", "rate", "withdrawn", "thanks"].forEach(function (name) {
        $("screen-" + name).hidden = name !== "setup";
      });
      body.setAttribute("data-screen", "setup");
      body.setAttribute("data-state", "setup");
    }
    $("device-key").focus();
  }

  $("setup-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var key = $("device-key").value.trim();
    if (!key) { showSetup("请输入设备密钥。", !!deviceKey()); return; }
    var answer;
    try {
      answer = await fetch("/api/v1/devices/current", { headers: { "X-Device-Key": key }, cache: "no-store" });
    } catch (e) {
      showSetup("无法连接服务器，请检查网络后重试。", !!deviceKey());
      return;
    }
    if (answer.status === 401) { showSetup("设备密钥无效或设备已停用，请核对后重新输入。", !!deviceKey()); return; }
    if (!answer.ok) { showSetup("服务器暂时无法验证密钥，请稍后重试。", !!deviceKey()); return; }
    localStorage.setItem(KEY, key);
    $("device-key").value = "";
    go("saved");
    heartbeat();
    poll();
  });
  $("setup-cancel").addEventListener("click", function () { go("cancel"); poll(); });

  // Hold the seal for LONG_PRESS_MS: the PIN screen. A tap does nothing a citizen could notice.
  (function () {
    var hold = null;
    var seal = $("admin-hold");
    function cancel() { clearTimeout(hold); hold = null; }
    seal.addEventListener("pointerdown", function () {
      cancel();
      hold = setTimeout(function () {
        hold = null;
        if (!deviceKey()) { showSetup("", false); return; }
        $("pin-form").reset();
        $("pin-error").hidden = true;
        if (go("admin")) $("admin-pin").focus();
      }, LONG_PRESS_MS);
    });
    ["pointerup", "pointerleave", "pointercancel"].forEach(function (type) {
      seal.addEventListener(type, cancel);
    });
    seal.addEventListener("contextmenu", function (event) { event.preventDefault(); });
  })();

  $("pin-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var error = $("pin-error");
    var answer;
    try {
      answer = await api("/api/v1/devices/admin-pin", { method: "POST", body: { pin: $("admin-pin").value } });
    } catch (e) {
      error.hidden = false;
      error.textContent = "无法连接服务器，请检查网络后重试。";
      return;
    }
    $("admin-pin").value = "";
    if (answer.ok) { showSetup("", true); return; }
    var message = "管理员 PIN 不正确。";
    try { message = (await answer.json()).message || message; } catch (e) { /* keep the default */ }
    error.hidden = false;
    error.textContent = message;
  });
  $("pin-cancel").addEventListener("click", function () { go("cancel"); });

  // --- buttons ----------------------------------------------------------------------------------

  document.querySelectorAll(".k-level").forEach(function (button) {
    button.addEventListener("click", function () { chooseLevel(Number(button.getAttribute("data-level"))); });
  });
  $("reason-back").addEventListener("click", function () { go("back"); });
  $("reason-submit").addEventListener("click", function () {
    if (state === "reasons" && chosenLevel && chosenTags.length) { submit(chosenLevel, chosenTags); return; }
    var hint = $("reason-hint");
    hint.classList.remove("shake");
    void hint.offsetWidth;  // restart the animation
    hint.classList.add("shake");
  });
  $("withdrawn-ok").addEventListener("click", function () { go("done"); poll(); });
  $("kiosk-scan").addEventListener("click", function () { openKiosk(true); });
  $("kiosk-type").addEventListener("click", function () { openKiosk(false); });
  $("kiosk-cancel").addEventListener("click", function () { $("kiosk-form").reset(); go("cancel"); });

  // --- heartbeat and clock ----------------------------------------------------------------------

  async function heartbeat() {
    if (!deviceKey()) return;
    try {
      await api("/api/v1/devices/heartbeat", {
        method: "POST",
        body: { app_version: APP_VERSION, device_time: new Date().toISOString(), queue_length: load(QUEUE, []).length },
      });
    } catch (e) { /* offline: the console shows this device as silent */ }
  }

  function tick() {
    var now = new Date();
    var pad = function (n) { return ("0" + n).slice(-2); };
    $("k-clock").textContent = (now.getMonth() + 1) + "月" + now.getDate() + "日 周" +
      "日一二三四五六"[now.getDay()] + " " + pad(now.getHours()) + ":" + pad(now.getMinutes());
  }

  window.addEventListener("online", function () { flush(); poll(); });
  window.addEventListener("offline", function () { setOnline(false); });
  tick();
  setInterval(tick, 15000);
  updatePending();
  showDevice(load(INFO, null));
  if (deviceKey()) { go("ready"); poll(); heartbeat(); } else { showSetup("", false); }
  setInterval(poll, config.pollMs);
  setInterval(heartbeat, config.heartbeatMs);
})();
