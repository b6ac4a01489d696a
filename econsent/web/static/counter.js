// The counter page: reads codes from the camera, a photo or a keyboard-wedge scanner, asks POST /verify,
// and shows the verdict card in Chinese or English. Everything from a code is inserted as text
// (textContent), never as markup: a claim can hold anything its issuer signed.
"use strict";

// The page's words, in both languages, from the gettext catalogue: the server puts them in the page
// (a JSON data block, which the content security policy lets no one run). Placeholders are {name}.
const STRINGS = JSON.parse(document.getElementById("strings").textContent);
const LOCALES = { en: "en-GB", zh: "zh-CN" };
const FRAME_PAUSE_MS = 250; // between one camera frame's answer and the next frame
const FRAME_MAX_WIDTH = 1280;
// A card stays this long after its code was last seen; then the page waits for the next citizen.
const CARD_SECONDS = 15;

let language = STRINGS[localStorage.getItem("econsent.language")] ? localStorage.getItem("econsent.language")
  : (STRINGS[document.documentElement.lang] ? document.documentElement.lang : "zh");
let shown = null; // {result, receivedAt, lastSeen}
let cameraNote = null; // [key, argument] of the camera status line

const $ = (id) => document.getElementById(id);
const t = (key, values = {}) =>
  STRINGS[language][key].replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));

function applyLanguage() {
  document.documentElement.lang = language;
  document.title = t("title");
  for (const element of document.querySelectorAll("[data-text]")) {
    element.textContent = t(element.dataset.text);
  }
  $("language").textContent = t("otherLanguage");
  renderCard();
  renderCameraNote();
}

function setCameraNote(key, argument) {
  cameraNote = [key, argument];
  renderCameraNote();
}

function renderCameraNote() {
  $("camera-status").textContent = cameraNote ? t(cameraNote[0], { reason: cameraNote[1] }) : "";
}

function claimText(value) {
  if (value === null || value === undefined) return "—";
  if (value === true) return t("yes");
  if (value === false) return t("no");
  if (Array.isArray(value)) return value.map(claimText).join(t("listSeparator"));
  if (typeof value === "object") {
    return Object.entries(value).map(([key, item]) => `${key}: ${claimText(item)}`).join("; ");
  }
  return String(value);
}

function localTime(iso) {
  return new Date(iso).toLocaleString(LOCALES[language], {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });
}

function row(list, label, value, style) {
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  description.textContent = value;
  if (style) description.className = style;
  list.append(term, description);
}

function freshness(result, receivedAt) {
  if (!result.expires_at) return t("bearer");
  const now = Date.parse(result.checked_at) + (Date.now() - receivedAt);
  const left = Math.round((Date.parse(result.expires_at) - now) / 1000);
  return left >= 0 ? t("expiresIn", { seconds: left }) : t("expiredAgo", { seconds: -left });
}

function renderCard() {
  const card = $("card");
  const rows = $("rows");
  rows.replaceChildren();
  $("subtitle").textContent = "";
  $("reason").textContent = "";
  $("footer").textContent = "";
  if (!shown) {
    card.className = "card idle";
    $("banner").textContent = t("waiting");
    return;
  }
  const result = shown.result;
  if (result.valid === true) {
    card.className = "card valid";
    $("banner").textContent = t("VALID");
    const labels = result.labels || { type: {}, claims: {} };
    const typeName = labels.type[language] || result.credential_type;
    $("subtitle").textContent = result.serial === null ? typeName : `${typeName} · ${t("serial")} ${result.serial}`;
    row(rows, t("issuer"), result.issuer[language] || result.issuer.zh || result.issuer.en);
    row(rows, t("freshness"), freshness(result, shown.receivedAt), "fresh");
    for (const [name, value] of Object.entries(result.claims)) {
      row(rows, (labels.claims[name] || {})[language] || name, claimText(value));
    }
    if (result.valid_until) row(rows, t("validUntil"), localTime(result.valid_until), "muted");
    if (result.withheld.length) {
      const names = result.withheld.map((name) => (labels.claims[name] || {})[language] || name);
      row(rows, t("withheld"), names.join(t("listSeparator")), "muted");
    }
    const warnings = language === "zh" && result.warnings_zh ? result.warnings_zh : result.warnings;
    for (const warning of warnings) row(rows, t("warning"), warning, "warning");
  } else if (result.valid === false && result.code === "NO_QR_CODE") {
    card.className = "card unread";
    $("banner").textContent = t("UNREAD");
    $("reason").textContent = t("unreadHint");
  } else {
    const refused = result.valid === false;
    card.className = refused ? "card rejected" : "card error";
    $("banner").textContent = t(refused ? "REJECTED" : "ERROR");
    $("subtitle").textContent = result.code || "";
    $("reason").textContent = (language === "zh" ? result.sentence_zh : result.sentence) || t("noServer");
    if (result.detail) row(rows, t("detail"), result.detail, "muted");
  }
  if (result.checked_at) $("footer").textContent = `${t("checkedAt")} ${localTime(result.checked_at)}`;
}

function show(result) {
  const now = Date.now();
  shown = { result, receivedAt: now, lastSeen: now };
  renderCard();
}

async function ask(body, type) {
  try {
    const response = await fetch("/verify", { method: "POST", body, headers: { "Content-Type": type } });
    return await response.json();
  } catch (error) {
    return { ok: false, code: "", sentence: STRINGS.en.noServer, sentence_zh: STRINGS.zh.noServer, detail: "" };
  }
}

// A photo, a pasted or typed code: every answer is shown, an unreadable photo as NOT READ.
async function checkByHand(body, type) {
  $("reason").textContent = t("checking");
  show(await ask(body, type));
}

// A camera frame: a frame without a code changes nothing (the decoder misses some frames); a code,
// new or still in view (the server answers it again, "repeat": true), is shown; a card whose code has
// left the view goes after CARD_SECONDS.
function onCameraAnswer(result) {
  if ("valid" in result && result.code !== "NO_QR_CODE") show(result);
}

function expireCard() {
  if (shown && Date.now() - shown.lastSeen > CARD_SECONDS * 1000) {
    shown = null;
  }
  renderCard();
}

async function cameraLoop() {
  const video = $("camera");
  setCameraNote("cameraStarting");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false });
  } catch (error) {
    setCameraNote("cameraOff", error && error.name ? error.name : String(error));
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => undefined);
  setCameraNote("cameraOn");
  const canvas = document.createElement("canvas");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, FRAME_PAUSE_MS));
    if (video.readyState < 2 || !video.videoWidth) continue;
    const scale = Math.min(1, FRAME_MAX_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    if (frame) onCameraAnswer(await ask(frame, "image/jpeg"));
  }
}

function start() {
  $("language").addEventListener("click", () => {
    language = language === "zh" ? "en" : "zh";
    localStorage.setItem("econsent.language", language);
    applyLanguage();
  });
  $("text-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("code").value.trim();
    $("code").value = "";
    if (text) checkByHand(text, "text/plain; charset=utf-8");
  });
  $("photo").addEventListener("change", () => {
    const file = $("photo").files[0];
    if (file) checkByHand(file, file.type || "application/octet-stream");
    $("photo").value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) checkByHand(file, file.type || "application/octet-stream");
  });
  document.addEventListener("paste", (event) => {
    if (event.target === $("code")) return; // the text field submits on Enter
    const file = [...event.clipboardData.files][0];
    const text = event.clipboardData.getData("text/plain").trim();
    if (file) checkByHand(file, file.type || "application/octet-stream");
    else if (text) checkByHand(text, "text/plain; charset=utf-8");
    event.preventDefault();
  });
  applyLanguage();
  setInterval(expireCard, 1000);
  $("code").focus(); // a keyboard-wedge scanner types into the page as soon as it opens
  cameraLoop();
}

start();
