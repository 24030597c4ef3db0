/* The cashier's scanner page: sign in (merchant staff only), read a coupon's QR code from the
   camera, an image or the keyboard, verify it, then redeem it. Talks to the JSON API with the
   access token kept in sessionStorage; decodes with the vendored jsQR (window.jsQR). */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN = "scanner.access_token";
  const NAME = "scanner.name";
  const FRAME_SIDE = 720;   // camera frames are scaled to this, for speed
  const IMAGE_SIDE = 1600;  // chosen images: larger, so a small code in a photo still reads
  const SCAN_EVERY_MS = 150;

  let stream = null;        // the camera, when on
  let paused = false;       // true while a result is on screen: the camera does not rescan
  let lastFrame = 0;
  let current = null;       // { token, holder } of the coupon on screen
  let sequence = 0;         // a newer scan wins over a slower, older answer

  // --- talking to the API: problem+json errors come back in Chinese ---------------------------
  async function post(path, body, token) {
    const headers = { Accept: "application/json", "Accept-Language": "zh-CN" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const response = await fetch(path, { method: "POST", headers, body: body && JSON.stringify(body) });
      const data = await response.json().catch(() => ({}));
      return { ok: response.ok, status: response.status, data };
    } catch (error) {
      return { ok: false, status: 0, data: { title: "网络错误", detail: "请检查网络后重试。 Network error: check the connection." } };
    }
  }

  // --- what is on screen --------------------------------------------------------------------
  function bilingual(element, zh, en) {
    element.textContent = zh;
    if (en) element.append(Object.assign(document.createElement("small"), { textContent: en }));
  }

  const yuan = (fen) => `¥${(fen / 100).toFixed(2)}`;
  const localTime = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "—");  // already +08:00

  function showSignedIn(signedIn) {
    $("login-view").hidden = signedIn;
    $("scan-view").hidden = !signedIn;
    $("who").hidden = !signedIn;
    $("who-name").textContent = signedIn ? `收银员 ${sessionStorage.getItem(NAME) || ""}` : "";
  }

  function loginProblem(title, detail) {
    $("login-message").textContent = [title, detail].filter(Boolean).join("\n");
    $("login-message").hidden = false;
  }

  function render({ tone = "", state, detail = "", coupon = null, redeemable = false }) {
    const card = $("result");
    card.hidden = false;
    card.className = `card ${tone}`;
    bilingual($("state"), ...state);
    $("state-detail").textContent = detail || "";
    $("coupon").hidden = !coupon;
    if (coupon) {
      $("coupon-title").textContent = coupon.title;
      $("coupon-value").textContent = yuan(coupon.face_value_fen);
      $("coupon-merchant").textContent = coupon.merchant_name;
      $("coupon-holder").textContent = (current && current.holder) || "—";
      $("coupon-expires").textContent = localTime(coupon.expires_at);
    }
    $("redeem").hidden = !redeemable;
    $("redeem").disabled = false;
    card.scrollIntoView({ block: "nearest" });
  }

  const renderProblem = (data, coupon = null) =>
    render({ tone: "bad", state: [data.title || "请求失败", data.status ? `HTTP ${data.status}` : ""], detail: data.detail, coupon });

  function signedOut(data) {
    sessionStorage.removeItem(TOKEN);
    stopCamera();
    $("result").hidden = true;
    showSignedIn(false);
    loginProblem(data.title || "请重新登录", data.detail || "Sign in again.");
  }

  // --- verify, then redeem ------------------------------------------------------------------
  async function verify(raw) {
    const token = raw.trim();
    if (!token) return;
    const mine = ++sequence;
    paused = true;
    current = { token, holder: null };
    render({ state: ["查询中…", "Checking…"] });
    const answer = await post("/api/v1/redemptions/verify", { token }, sessionStorage.getItem(TOKEN));
    if (mine !== sequence) return;
    if (answer.status === 401) return signedOut(answer.data);
    if (!answer.ok) return renderProblem(answer.data);
    const found = answer.data;
    current.holder = found.holder;
    render(found.valid
      ? { tone: "ok", state: ["✓ 有效，可以核销", "Valid: ready to redeem"], coupon: found.coupon, redeemable: true }
      : { tone: "bad", state: ["✗ 不能核销", "Cannot be redeemed"], detail: found.reason_text, coupon: found.coupon });
  }

  async function redeem() {
    if (!current) return;
    const mine = sequence;
    $("redeem").disabled = true;  // one tap, one request
    const answer = await post("/api/v1/redemptions", { token: current.token }, sessionStorage.getItem(TOKEN));
    if (mine !== sequence) return;
    if (answer.status === 401) return signedOut(answer.data);
    if (!answer.ok) return renderProblem(answer.data);
    render({ tone: "ok", state: ["✓ 核销成功", "Redeemed"], coupon: answer.data,
             detail: `核销时间 Redeemed at ${localTime(answer.data.redeemed_at)}` });
  }

  function next() {
    sequence += 1;
    current = null;
    paused = false;
    $("result").hidden = true;
    $("manual-token").value = "";
  }

  // --- reading QR codes ---------------------------------------------------------------------
  function decode(source, width, height, maxSide, inversionAttempts) {
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const canvas = $("frame");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts });
    return found && found.data;
  }

  async function startCamera() {
    const status = $("camera-status");
    if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
      status.textContent = "此浏览器无法使用摄像头，请扫描图片或手动输入。 No camera here: scan an image or paste the code.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      status.textContent = `无法开启摄像头（${error.name}），请扫描图片或手动输入。 Camera unavailable: scan an image instead.`;
      return;
    }
    const video = $("video");
    video.srcObject = stream;
    video.hidden = false;
    await video.play().catch(() => {});
    bilingual($("camera"), "关闭摄像头", "Stop camera");
    status.textContent = "请将二维码对准取景框。 Point the camera at the QR code.";
    requestAnimationFrame(scanFrame);
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    $("video").hidden = true;
    $("video").srcObject = null;
    bilingual($("camera"), "开启摄像头", "Start camera");
    $("camera-status").textContent = "";
  }

  function scanFrame(now) {
    if (!stream) return;
    const video = $("video");
    if (!paused && now - lastFrame > SCAN_EVERY_MS && video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth) {
      lastFrame = now;
      const token = decode(video, video.videoWidth, video.videoHeight, FRAME_SIDE, "dontInvert");
      if (token) verify(token);
    }
    requestAnimationFrame(scanFrame);
  }

  async function scanFile(event) {
    const file = event.target.files[0];
    event.target.value = "";  // choosing the same picture again still counts
    if (!file) return;
    let token = null;
    try {
      const bitmap = await createImageBitmap(file);
      token = decode(bitmap, bitmap.width, bitmap.height, IMAGE_SIDE, "attemptBoth");
      bitmap.close();
    } catch (error) {
      return render({ tone: "bad", state: ["无法读取图片", "Could not read the image"] });
    }
    if (!token) {
      return render({ tone: "bad", state: ["图片中未识别到二维码", "No QR code found in the image"],
                      detail: "请换一张更清晰的图片，或手动输入券码。 Try a sharper picture, or paste the code." });
    }
    verify(token);
  }

  // --- signing in and out -------------------------------------------------------------------
  async function signIn(event) {
    event.preventDefault();
    const form = event.target;
    const button = form.querySelector("button");
    $("login-message").hidden = true;
    button.disabled = true;
    const answer = await post("/api/v1/auth/login", { phone: form.phone.value.trim(), password: form.password.value });
    button.disabled = false;
    if (!answer.ok) return loginProblem(answer.data.title, answer.data.detail);
    if (answer.data.user.role !== "merchant_staff") {
      post("/api/v1/auth/logout", undefined, answer.data.access_token);  // keep no session we will not use
      return loginProblem("此页面仅限商户收银员使用", "Only merchant staff can scan and redeem coupons here.");
    }
    sessionStorage.setItem(TOKEN, answer.data.access_token);
    sessionStorage.setItem(NAME, answer.data.user.display_name || "");
    form.reset();
    showSignedIn(true);
  }

  function signOut() {
    const token = sessionStorage.getItem(TOKEN);
    if (token) post("/api/v1/auth/logout", undefined, token);
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(NAME);
    stopCamera();
    next();
    showSignedIn(false);
  }

  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("camera").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
  $("file").addEventListener("change", scanFile);
  $("manual-form").addEventListener("submit", (event) => { event.preventDefault(); verify($("manual-token").value); });
  $("redeem").addEventListener("click", redeem);
  $("next").addEventListener("click", next);
  showSignedIn(Boolean(sessionStorage.getItem(TOKEN)));
})();
