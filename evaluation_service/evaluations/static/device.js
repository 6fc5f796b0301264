// Window evaluator and kiosk page. Which device this is lives in localStorage (entered once on the
// setup screen). Ratings are queued in localStorage before they are sent and leave the queue only
// once the server has answered, so a network cut loses none; each carries its idempotency key, so
// sending one twice stores it once.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("device-config").textContent);
  var KEY = "haochaping.device.key";
  var INFO = "haochaping.device.info";
  var QUEUE = "haochaping.device.queue";
  var RATED = "haochaping.device.rated";
  var REJECTED = "haochaping.device.rejected";
  var body = document.body;
  var current = null;
  var chosenLevel = null;
  var chosenTags = [];
  var idleTimer = null;
  var draining = null;

  function $(id) { return document.getElementById(id); }
  function load(name, fallback) {
    try { var raw = localStorage.getItem(name); return raw ? JSON.parse(raw) : fallback; }
    catch (e) { return fallback; }
  }
  function save(name, value) { localStorage.setItem(name, JSON.stringify(value)); }
  function deviceKey() { return localStorage.getItem(KEY) || ""; }
  function recordKey(r) { return r.project_no + "#" + r.service_number; }

  function show(screen) {
    ["setup", "idle", "rate", "thanks"].forEach(function (name) {
      $("screen-" + name).hidden = name !== screen;
    });
    body.setAttribute("data-screen", screen);
  }

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
  }

  function randomKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // available on plain http too, unlike crypto.randomUUID
    return "dev-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // --- sending the queue -------------------------------------------------------------------------

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

  // --- what the window system announced -------------------------------------------------------

  async function poll() {
    flush();
    var key = deviceKey();
    if (!key) { show("setup"); return; }
    var answer;
    try {
      answer = await fetch("/api/v1/devices/current", { headers: { "X-Device-Key": key }, cache: "no-store" });
    } catch (e) {
      setOnline(false);
      if (body.getAttribute("data-screen") === "loading") show("idle");
      return;
    }
    setOnline(true);
    if (answer.status === 401) {
      localStorage.removeItem(KEY);
      showSetup("设备密钥无效或设备已停用，请重新输入。");
      return;
    }
    if (!answer.ok) return;
    var data = await answer.json();
    save(INFO, data);
    showDevice(data);
    var screen = body.getAttribute("data-screen");
    if (screen === "thanks" || screen === "setup") return;
    var rated = load(RATED, []);
    if (data.state === "ready" && rated.indexOf(recordKey(data.record)) < 0) {
      if (screen !== "rate" || !current || recordKey(current) !== recordKey(data.record)) {
        showRecord(data.record);
      }
    } else if (screen !== "idle") {
      current = null;
      show("idle");
    }
  }

  function showRecord(record) {
    current = record;
    chosenLevel = null;
    chosenTags = [];
    $("k-item").textContent = record.item_name;
    var meta = $("k-meta");
    meta.textContent = "";
    [record.department_name, record.record_name, record.occurred_text].filter(Boolean).forEach(function (text) {
      var part = document.createElement("span");
      part.textContent = text;
      meta.appendChild(part);
    });
    $("step-levels").hidden = false;
    $("step-reasons").hidden = true;
    show("rate");
  }

  // --- rating ---------------------------------------------------------------------------------

  function chooseLevel(level) {
    if (!current) return;
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
        $("reason-submit").disabled = chosenTags.length === 0;
      });
      chips.appendChild(chip);
    });
    $("reason-submit").disabled = true;
    $("step-levels").hidden = true;
    $("step-reasons").hidden = false;
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
    var rated = load(RATED, []);
    rated.push(recordKey(record));
    save(RATED, rated.slice(-200));
    current = null;
    updatePending();
    $("thanks-note").textContent = "正在提交您的评价…";
    show("thanks");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { show("idle"); poll(); }, config.idleAfterMs);
    await flush();
    var waiting = load(QUEUE, []).some(function (q) {
      return q.rating.idempotency_key === item.rating.idempotency_key;
    });
    $("thanks-note").textContent = waiting
      ? "网络暂时中断，您的评价已保存在本机，网络恢复后将自动提交，不会丢失。"
      : "您的评价已提交，我们会认真对待每一条意见。";
  }

  // --- setup ----------------------------------------------------------------------------------

  function showSetup(message) {
    var error = $("setup-error");
    error.hidden = !message;
    error.textContent = message || "";
    show("setup");
    $("device-key").focus();
  }

  $("setup-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var key = $("device-key").value.trim();
    if (!key) { showSetup("请输入设备密钥。"); return; }
    var answer;
    try {
      answer = await fetch("/api/v1/devices/current", { headers: { "X-Device-Key": key }, cache: "no-store" });
    } catch (e) {
      showSetup("无法连接服务器，请检查网络后重试。");
      return;
    }
    if (answer.status === 401) { showSetup("设备密钥无效或设备已停用，请核对后重新输入。"); return; }
    if (!answer.ok) { showSetup("服务器暂时无法验证密钥，请稍后重试。"); return; }
    localStorage.setItem(KEY, key);
    $("device-key").value = "";
    show("idle");
    poll();
  });

  $("reset-key").addEventListener("click", function () {
    if (!window.confirm("确定要更换本设备的密钥吗？")) return;
    localStorage.removeItem(KEY);
    showSetup("");
  });

  document.querySelectorAll(".k-level").forEach(function (button) {
    button.addEventListener("click", function () { chooseLevel(Number(button.getAttribute("data-level"))); });
  });
  $("reason-back").addEventListener("click", function () {
    $("step-levels").hidden = false;
    $("step-reasons").hidden = true;
  });
  $("reason-submit").addEventListener("click", function () {
    if (chosenLevel && chosenTags.length) submit(chosenLevel, chosenTags);
  });

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
  if (deviceKey()) { show("idle"); poll(); } else { showSetup(""); }
  setInterval(poll, config.pollMs);
})();
