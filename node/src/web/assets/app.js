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
    const digest = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
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
