// tongban pages: a little plain JavaScript, no build step. Uploads materials in chunks with a
// progress bar (resuming after a dropped connection), checks fields as they are filled, keeps a
// form from being sent twice, and prints. The pages work without it except for uploads.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const CHUNK = 256 * 1024;

  function hex(buf) {
    return Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  // SM3 (GB/T 32905-2016), for a federation of the national suite: browsers have no SM3, and
  // materials are addressed by the federation's digest. The node checks the digest again.
  function sm3(bytes) {
    const rotl = (x, n) => ((x << (n & 31)) | (x >>> ((32 - n) & 31))) >>> 0;
    const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
    const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
    const v = new Uint32Array([0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600,
      0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e]);
    const len = bytes.length;
    const padded = new Uint8Array((((len + 8) >>> 6) + 1) << 6);
    padded.set(bytes);
    padded[len] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
    view.setUint32(padded.length - 4, (len * 8) >>> 0);
    const w = new Uint32Array(68);
    const w1 = new Uint32Array(64);
    for (let off = 0; off < padded.length; off += 64) {
      for (let j = 0; j < 16; j++) w[j] = view.getUint32(off + 4 * j);
      for (let j = 16; j < 68; j++) {
        w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
      }
      for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
      let [a, b, c, d, e, f, g, h] = v;
      for (let j = 0; j < 64; j++) {
        const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
        const ss1 = rotl((rotl(a, 12) + e + rotl(t, j % 32)) >>> 0, 7);
        const ss2 = (ss1 ^ rotl(a, 12)) >>> 0;
        const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
        const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
        const tt1 = (ff + d + ss2 + w1[j]) >>> 0;
        const tt2 = (gg + h + ss1 + w[j]) >>> 0;
        d = c; c = rotl(b, 9); b = a; a = tt1;
        h = g; g = rotl(f, 19); f = e; e = p0(tt2);
      }
      v[0] ^= a; v[1] ^= b; v[2] ^= c; v[3] ^= d; v[4] ^= e; v[5] ^= f; v[6] ^= g; v[7] ^= h;
    }
    const out = new DataView(new ArrayBuffer(32));
    for (let i = 0; i < 8; i++) out.setUint32(4 * i, v[i]);
    return out.buffer;
  }

  // The federation's digest of a file: SHA-256, or SM3 where the page says the node's suite is sm.
  async function digestOf(file) {
    const bytes = await file.arrayBuffer();
    const name = (document.querySelector('meta[name="tongban-digest"]') || {}).content;
    return hex(name === "SM3" ? sm3(new Uint8Array(bytes)) : await crypto.subtle.digest("SHA-256", bytes));
  }

  // One chunk, retried with backoff when the connection drops or the node is busy; the
  // node's answer says how far it holds the material, and the upload goes on from there.
  async function putChunk(digest, offset, total, blob, onRetry) {
    let wait = 500;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch(`/ui/materials/${digest}?offset=${offset}&total=${total}`, {
          method: "PUT", body: blob, credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/octet-stream" },
        });
        const body = await r.json();
        if (r.ok) return body;
        if (r.status === 409 && body.error && body.error.code === "upload_expired") return { restart: true };
        if (r.status !== 503 || attempt >= 8) throw new Error(body.error ? body.error.message : `HTTP ${r.status}`);
      } catch (e) {
        if (e instanceof TypeError && attempt < 20) { onRetry(attempt + 1); } else if (!(e instanceof TypeError)) { throw e; } else { throw new Error("网络中断，重试多次仍未成功"); }
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 8000);
    }
  }

  async function upload(input) {
    const box = input.closest(".material");
    const id = input.dataset.material;
    const bar = box.querySelector("progress");
    const status = box.querySelector(".upload-status");
    const err = box.querySelector(".err");
    const file = input.files && input.files[0];
    err.textContent = "";
    box.querySelector(`[name="m.${id}.digest"]`).value = "";
    if (!file) return;
    if (file.size === 0) { err.textContent = "文件为空，请重新选择"; return; }
    if (file.size > 64 * 1024 * 1024) { err.textContent = "单个材料不能超过64MB，请压缩或分开扫描"; return; }
    status.textContent = "正在计算文件摘要…";
    const digest = await digestOf(file);
    bar.hidden = false; bar.max = file.size; bar.value = 0;
    let offset = 0;
    try {
      while (offset < file.size) {
        const end = Math.min(offset + CHUNK, file.size);
        const answer = await putChunk(digest, offset, file.size, file.slice(offset, end),
          (n) => { status.textContent = `连接中断，正在第${n}次重试，已传内容不会丢失…`; });
        if (answer.restart) { offset = 0; continue; }
        offset = answer.complete ? file.size : answer.received;
        bar.value = offset;
        status.textContent = `已上传 ${Math.round((100 * offset) / file.size)}%`;
      }
    } catch (e) {
      status.textContent = "";
      err.textContent = `上传未完成：${e.message}。请重新选择文件，已上传部分会接着传。`;
      return;
    }
    box.querySelector(`[name="m.${id}.digest"]`).value = digest;
    box.querySelector(`[name="m.${id}.size"]`).value = String(file.size);
    box.querySelector(`[name="m.${id}.media_type"]`).value = file.type || "application/octet-stream";
    box.querySelector(`[name="m.${id}.file"]`).value = file.name;
    status.textContent = `已上传：${file.name}（${file.size} 字节，摘要 ${digest.slice(0, 12)}…）`;
    box.classList.add("done");
  }

  // Live checks, the same rules the server applies (it checks again).
  const checks = {
    id18(v) {
      if (!/^\d{17}[\dXx]$/.test(v)) return "居民身份证号码应为18位，请核对证件后重新输入";
      const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
      const c = "10X98765432";
      let s = 0;
      for (let i = 0; i < 17; i++) s += Number(v[i]) * w[i];
      return c[s % 11] === v[17].toUpperCase() ? "" : "校验位不符，号码可能输错了一位，请逐位核对";
    },
    phone(v) {
      const d = v.replace(/[- ]/g, "");
      return /^1\d{10}$/.test(d) || /^0\d{9,11}$/.test(d) ? "" : "请填写11位手机号码，或带区号的固定电话（如 022-12345678）";
    },
    required(v) { return v.trim() ? "" : "此项必填"; },
  };
  function check(input) {
    const kind = input.dataset.check;
    const idType = document.querySelector('[name="id_type"]');
    if (kind === "id18" && idType && idType.value !== "resident_id_card") return true;
    const msg = input.value.trim() === "" ? (input.required ? "此项必填" : "") : (checks[kind] || checks.required)(input.value.trim());
    const err = document.getElementById(`${input.id}-err`);
    if (err) err.textContent = msg;
    input.classList.toggle("invalid", !!msg);
    input.setAttribute("aria-invalid", msg ? "true" : "false");
    return !msg;
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("input[type=file][data-material]").forEach((i) =>
      i.addEventListener("change", () => upload(i)));
    document.querySelectorAll("[data-check]").forEach((i) => {
      i.addEventListener("blur", () => check(i));
      i.addEventListener("input", () => { if (i.classList.contains("invalid")) check(i); });
    });
    document.querySelectorAll("button[data-print]").forEach((b) =>
      b.addEventListener("click", () => window.print()));
    document.querySelectorAll("select[data-toggle]").forEach((s) => {
      const sync = () => {
        const el = document.getElementById(s.dataset.toggle);
        if (el) el.hidden = s.value !== s.dataset.when;
      };
      s.addEventListener("change", sync); sync();
    });
    // A form is sent once: the button waits; the server's idempotency key covers the rest.
    document.querySelectorAll("form[data-once]").forEach((f) =>
      f.addEventListener("submit", (ev) => {
        let ok = true;
        f.querySelectorAll("[data-check]").forEach((i) => { ok = check(i) && ok; });
        if (!ok) { ev.preventDefault(); const bad = f.querySelector(".invalid"); if (bad) bad.focus(); return; }
        if (f.dataset.sent) { ev.preventDefault(); return; }
        f.dataset.sent = "1";
        f.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; b.textContent = "正在提交…"; });
      }));
  });
})();
