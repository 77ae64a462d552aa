// Kiln console: plain JS, no build. Every request is an ordinary JD Cloud API call, signed
// in the browser (sign.js). The DOM contract the browser tests rely on is in the README's
// "The console" section and /tmp/console-contract.md.
"use strict";

const REGIONS = ["cn-north-1", "cn-east-1", "cn-east-2", "cn-south-1"];
const DISK_TYPES = ["ssd.gp1", "ssd.io1", "hdd.std1", "premium-hdd", "ssd"];
const DEVICES = Array.from({ length: 25 }, (_, i) => "vd" + String.fromCharCode(98 + i)); // vdb..vdz
const POLL_MS = 1500;
const PAGES = ["instances", "images", "disks", "snapshots", "tasks", "quotas"];

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c);
  }
  return e;
}

function options(select, values, keep = true) {
  const before = select.value;
  select.replaceChildren(
    ...values.map((v) => (typeof v === "string" ? el("option", { value: v, text: v }) : el("option", { value: v.value, text: v.label }))),
  );
  if (keep && values.some((v) => (typeof v === "string" ? v : v.value) === before)) select.value = before;
}

// ---------------------------------------------------------------- session

const session = {
  get accessKey() { return sessionStorage.getItem("kiln.accessKey"); },
  get secretKey() { return sessionStorage.getItem("kiln.secretKey"); },
  get region() { return sessionStorage.getItem("kiln.region") || REGIONS[0]; },
  set region(r) { sessionStorage.setItem("kiln.region", r); },
  signedIn() { return !!(this.accessKey && this.secretKey); },
  save(ak, sk, region) {
    sessionStorage.setItem("kiln.accessKey", ak);
    sessionStorage.setItem("kiln.secretKey", sk);
    sessionStorage.setItem("kiln.region", region);
  },
  forget() {
    for (const k of ["kiln.accessKey", "kiln.secretKey", "kiln.region"]) sessionStorage.removeItem(k);
  },
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message, requestId, code) {
    super(message);
    this.status = status;
    this.requestId = requestId;
    this.code = code;
  }
}

// The product a path belongs to (src/http/endpoint.rs): disks and snapshots are the disk
// service, and so is `quotas?type=…`; everything else the console calls is vm.
function serviceFor(path, query) {
  const collection = path.split(/[/:]/)[0];
  if (collection === "disks" || collection === "snapshots") return "disk";
  if (collection === "quotas" && query && query.type) return "disk";
  return "vm";
}

function queryString(query) {
  return Object.entries(query || {})
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${KilnSign.encode(k, false)}=${KilnSign.encode(String(v), false)}`)
    .join("&");
}

async function api(method, path, { query, body, region } = {}) {
  region = region || session.region;
  const full = `/v1/regions/${region}/${path}`;
  const qs = queryString(query);
  const text = body === undefined ? "" : JSON.stringify(body);
  const headers = await KilnSign.signHeaders({
    accessKey: session.accessKey,
    secretKey: session.secretKey,
    service: serviceFor(path, query),
    region,
    method,
    host: location.host,
    path: full,
    query: qs,
    body: text,
  });
  let resp;
  try {
    resp = await fetch(full + (qs ? "?" + qs : ""), { method, headers, body: text === "" ? undefined : text });
  } catch (e) {
    throw new ApiError("UNAVAILABLE", `the server did not answer (${e.message})`, "-", 0);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    /* not JSON: reported below */
  }
  if (!data) throw new ApiError(`HTTP ${resp.status}`, "the answer was not JSON", resp.headers.get("x-jdcloud-request-id") || "-", resp.status);
  if (data.error || !resp.ok) {
    const e = data.error || {};
    throw new ApiError(e.status || `HTTP ${resp.status}`, e.message || "request failed", data.requestId || "-", e.code || resp.status);
  }
  return data.result || {};
}

// ---------------------------------------------------------------- errors

function showError(e) {
  const box = $("#error");
  if (e instanceof ApiError) {
    $("#error-text").textContent = `${e.status}: ${e.message} (request ${e.requestId})`;
  } else {
    $("#error-text").textContent = `ERROR: ${e && e.message ? e.message : e}`;
  }
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
  $("#error-text").textContent = "";
}

// Runs a user action: clears the last error first, shows the new one if it fails.
async function act(fn) {
  clearError();
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

// ---------------------------------------------------------------- dialogs

const dialogs = {
  open(id, focus) {
    for (const d of $$("dialog[open]")) if (d.id !== id) d.close();
    const d = document.getElementById(id);
    if (!d.open) d.show();
    const f = focus ? $(focus, d) : $("input, select, button", d);
    if (f) f.focus();
  },
  close(id) {
    const d = document.getElementById(id);
    if (d.open) d.close();
  },
};

let confirmResolve = null;
function confirmAction(text) {
  $("#confirm-text").textContent = text;
  dialogs.open("confirm-dialog", "#confirm-no");
  return new Promise((resolve) => {
    confirmResolve = resolve;
  });
}

function setUpDialogs() {
  $("#confirm-dialog").addEventListener("close", () => {
    if (confirmResolve) confirmResolve($("#confirm-dialog").returnValue === "yes");
    confirmResolve = null;
  });
  for (const d of $$("dialog")) {
    for (const b of $$("button.cancel", d)) b.addEventListener("click", () => d.close());
  }
  // Dialogs open non-modal (so #error stays reachable); Escape closes the open one.
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    const open = $$("dialog[open]");
    if (open.length) {
      ev.preventDefault();
      open[open.length - 1].close();
    }
  });
}

// ---------------------------------------------------------------- tables

function statusCell(td, status) {
  td.textContent = status || "";
  td.className = "status st-" + String(status || "").replace(/[^a-z-]/gi, "-");
}

// Keeps one row per item (by data-id), updating cells in place so focus survives polling.
function syncRows(table, items, idOf, build, update) {
  const tbody = table.tBodies[0];
  const keep = new Set();
  for (const item of items) {
    const id = idOf(item);
    keep.add(id);
    let tr = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!tr) {
      tr = build(item);
      tr.dataset.id = id;
      tbody.append(tr);
    }
    tr.item = item;
    update(tr, item);
  }
  for (const tr of Array.from(tbody.rows)) if (!keep.has(tr.dataset.id)) tr.remove();
  const empty = table.parentElement.querySelector(".empty");
  if (empty) empty.hidden = items.length > 0;
}

function rowButton(cls, label, title, onclick) {
  return el("button", {
    type: "button",
    class: cls,
    text: label,
    "aria-label": title,
    onclick: (ev) => onclick(ev.currentTarget.closest("tr").item),
  });
}

function cells(...classes) {
  return classes.map((c) => el("td", { class: c }));
}

const gb = (n) => (n || n === 0 ? `${n} GB` : "");

function deviceOrder(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

// ---------------------------------------------------------------- instances

const cache = { instances: [], disks: [], images: {} };

function instanceDisks(inst) {
  const out = [];
  const sd = inst.systemDisk || {};
  if (sd.deviceName || sd.diskCategory) {
    if (sd.diskCategory === "local") {
      out.push(`${sd.deviceName || "vda"} local ${gb(sd.localDisk && sd.localDisk.diskSizeGB)}`.trim());
    } else {
      const c = sd.cloudDisk || {};
      out.push(`${sd.deviceName || "vda"} ${c.diskId || "cloud"} ${gb(c.diskSizeGB)}`.trim());
    }
  }
  for (const d of [...(inst.dataDisks || [])].sort((a, b) => deviceOrder(a.deviceName || "", b.deviceName || ""))) {
    const c = d.cloudDisk || {};
    const state = d.status && d.status !== "attached" ? ` (${d.status})` : "";
    out.push(`${d.deviceName} ${c.diskId || d.diskCategory} ${gb(c.diskSizeGB)}${state}`.trim());
  }
  return out.join("\n");
}

async function loadInstances() {
  const r = await api("GET", "instances", { query: { pageSize: 100 } });
  cache.instances = r.instances || [];
  syncRows(
    $("#instances-table"),
    cache.instances,
    (i) => i.instanceId,
    () => {
      const tr = el("tr", {}, el("td", { class: "id" }), cells("name", "status", "image", "type", "disks"));
      const name = () => tr.item.instanceName || tr.item.instanceId;
      tr.append(
        el(
          "td",
          { class: "actions" },
          rowButton("act-start", "Start", "Start instance", (i) => instanceAction(i, "startInstance")),
          rowButton("act-stop", "Stop", "Stop instance", (i) => instanceAction(i, "stopInstance")),
          rowButton("act-reboot", "Reboot", "Reboot instance", (i) => instanceAction(i, "rebootInstance")),
          rowButton("act-attach", "Attach…", "Attach a disk", openAttach),
          rowButton("act-detach", "Detach…", "Detach a disk", openDetach),
          rowButton("act-create-image", "Create image…", "Create an image from this instance", openImageEditor),
          rowButton("act-delete", "Delete", "Delete instance", async (i) => {
            if (await confirmAction(`Delete instance ${name()} (${i.instanceId})?`)) {
              await act(() => api("DELETE", `instances/${i.instanceId}`));
              refreshSoon();
            }
          }),
        ),
      );
      return tr;
    },
    (tr, i) => {
      tr.cells[0].textContent = i.instanceId;
      $(".name", tr).textContent = i.instanceName;
      statusCell($(".status", tr), i.status);
      $(".image", tr).textContent = i.imageId;
      $(".type", tr).textContent = i.instanceType;
      $(".disks", tr).textContent = instanceDisks(i);
    },
  );
}

async function instanceAction(inst, action) {
  await act(() => api("POST", `instances/${inst.instanceId}:${action}`, { body: {} }));
  refreshSoon();
}

let attachFor = null;
async function openAttach(inst) {
  attachFor = inst;
  await act(async () => {
    const r = await api("GET", "disks", { query: { pageSize: 100 } });
    const free = (r.disks || []).filter((d) => d.status === "available");
    options(
      $("#attach-disk"),
      free.map((d) => ({ value: d.diskId, label: `${d.diskId} ${d.name} (${d.diskSizeGB} GB ${d.diskType})` })),
      false,
    );
    $("#attach-title").textContent = `Attach a disk to ${inst.instanceName || inst.instanceId}`;
    dialogs.open("attach-dialog", "#attach-disk");
  });
}

let detachFor = null;
function openDetach(inst) {
  detachFor = inst;
  clearError();
  const disks = (inst.dataDisks || []).filter((d) => d.cloudDisk && d.cloudDisk.diskId);
  options(
    $("#detach-disk"),
    disks.map((d) => ({ value: d.cloudDisk.diskId, label: `${d.deviceName} ${d.cloudDisk.diskId} (${d.cloudDisk.diskSizeGB} GB)` })),
    false,
  );
  $("#detach-title").textContent = `Detach a disk from ${inst.instanceName || inst.instanceId}`;
  dialogs.open("detach-dialog", "#detach-disk");
}

// ---------------------------------------------------------------- launch

async function allImages() {
  const lists = await Promise.all(
    ["private", "shared", "community", "public"].map((s) =>
      api("GET", "images", { query: { imageSource: s, pageSize: 100 } }).then((r) => r.images || []),
    ),
  );
  const seen = new Set();
  return lists.flat().filter((i) => !seen.has(i.imageId) && seen.add(i.imageId));
}

function addLaunchDisk() {
  const n = $$(".launch-disk").length + 1;
  const type = el("select", { class: "disk-type", id: `launch-disk-type-${n}` });
  options(type, DISK_TYPES);
  const row = el(
    "div",
    { class: "launch-disk" },
    el("div", {}, el("label", { for: `launch-disk-type-${n}`, text: `Disk ${n} type` }), type),
    el(
      "div",
      {},
      el("label", { for: `launch-disk-size-${n}`, text: "Size (GB)" }),
      el("input", { class: "disk-size", id: `launch-disk-size-${n}`, type: "number", min: 20, step: 10, value: 20, required: true }),
    ),
    el("button", { type: "button", class: "launch-disk-remove", text: "Remove", "aria-label": `Remove disk ${n}`, onclick: () => row.remove() }),
  );
  $("#launch-disks").append(row);
  type.focus();
}

async function openLaunch(imageId) {
  await act(async () => {
    const [images, types] = await Promise.all([allImages(), api("GET", "instanceTypes")]);
    const usable = images.filter((i) => i.status === "ready" || i.imageId === imageId);
    options(
      $("#launch-image"),
      usable.map((i) => ({ value: i.imageId, label: `${i.name} (${i.imageId}, ${i.imageSource}, ${i.rootDeviceType})` })),
    );
    if (imageId) $("#launch-image").value = imageId;
    const typeNames = (types.instanceTypes || []).map((t) => ({
      value: t.instanceType,
      label: `${t.instanceType}${t.cpu ? ` (${t.cpu} vCPU, ${Math.round((t.memoryMB || 0) / 1024)} GB)` : ""}`,
    }));
    options($("#launch-type"), typeNames);
    $("#launch-disks").replaceChildren();
    dialogs.open("launch-dialog", "#launch-name");
  });
}

async function submitLaunch(ev) {
  ev.preventDefault();
  const spec = {
    az: `${session.region}a`,
    instanceType: $("#launch-type").value,
    imageId: $("#launch-image").value,
    name: $("#launch-name").value.trim(),
    systemDisk: { diskCategory: $("#launch-system-disk").value },
  };
  const data = $$(".launch-disk").map((row) => ({
    diskCategory: "cloud",
    cloudDiskSpec: { diskType: $(".disk-type", row).value, diskSizeGB: Number($(".disk-size", row).value) },
  }));
  if (data.length) spec.dataDisks = data;
  const r = await act(() => api("POST", "instances", { body: { instanceSpec: spec, maxCount: 1, clientToken: KilnSign.nonce() } }));
  if (r) {
    dialogs.close("launch-dialog");
    $("#launch-form").reset();
    go("instances");
  }
}

// ---------------------------------------------------------------- image editor

let editorFor = null;

function ruleRowFor(disk) {
  const c = disk.cloudDisk || {};
  const dev = disk.deviceName;
  const rule = el(
    "select",
    { class: "rule", id: `rule-${dev}`, "aria-label": `Rule for ${dev}` },
    el("option", { value: "keep", text: "keep" }),
    el("option", { value: "exclude", text: "exclude (noDevice)" }),
    el("option", { value: "replace", text: "replace with a new disk" }),
  );
  const type = el("select", { class: "replace-type", "aria-label": `New disk type for ${dev}` });
  options(type, DISK_TYPES);
  if (DISK_TYPES.includes(c.diskType)) type.value = c.diskType;
  const size = el("input", {
    class: "replace-size",
    type: "number",
    min: c.diskSizeGB || 20,
    step: 10,
    value: c.diskSizeGB || 20,
    "aria-label": `New disk size for ${dev} (GB)`,
  });
  const replace = el("span", { class: "replace", hidden: true }, type, " ", size, " GB");
  const tr = el(
    "tr",
    { class: "rule-row", dataset: { device: dev, diskSize: c.diskSizeGB || "", diskType: c.diskType || "", diskId: c.diskId || "" } },
    el("td", { text: dev }),
    el("td", { text: `${c.diskId || disk.diskCategory} ${gb(c.diskSizeGB)} ${c.diskType || ""}`.trim() }),
    el("td", {}, rule),
    el("td", {}, replace),
    el("td"),
  );
  rule.addEventListener("change", () => {
    replace.hidden = rule.value !== "replace";
    updateLayout();
  });
  type.addEventListener("change", updateLayout);
  size.addEventListener("input", updateLayout);
  return tr;
}

function usedDevices(except) {
  const used = new Set(["vda"]);
  for (const d of (editorFor && editorFor.dataDisks) || []) used.add(d.deviceName);
  for (const s of $$("tr.rule-row.inserted .insert-device")) if (s !== except) used.add(s.value);
  return used;
}

function refreshInsertOptions() {
  for (const s of $$("tr.rule-row.inserted .insert-device")) {
    const used = usedDevices(s);
    const mine = s.value;
    options(s, DEVICES.filter((d) => !used.has(d) || d === mine));
    s.value = mine;
    s.closest("tr").dataset.device = s.value;
  }
}

function insertRule() {
  const used = usedDevices(null);
  const free = DEVICES.filter((d) => !used.has(d));
  if (!free.length) return;
  const n = $$("tr.rule-row.inserted").length + 1;
  const device = el("select", { class: "insert-device", "aria-label": `Device of inserted disk ${n}` });
  options(device, free);
  device.value = free[0];
  const type = el("select", { class: "disk-type", "aria-label": `Type of inserted disk ${n}` });
  options(type, DISK_TYPES);
  const size = el("input", { class: "disk-size", type: "number", min: 20, step: 10, value: 20, "aria-label": `Size of inserted disk ${n} (GB)` });
  const tr = el(
    "tr",
    { class: "rule-row inserted", dataset: { device: free[0] } },
    el("td", {}, device),
    el("td", { text: "new blank disk" }),
    el("td", { text: "insert" }),
    el("td", {}, type, " ", size, " GB"),
    el(
      "td",
      {},
      el("button", {
        type: "button",
        class: "rule-remove",
        text: "Remove",
        "aria-label": `Remove inserted disk ${n}`,
        onclick: () => {
          tr.remove();
          refreshInsertOptions();
          updateLayout();
          $("#rule-insert").focus();
        },
      }),
    ),
  );
  device.addEventListener("change", () => {
    refreshInsertOptions();
    updateLayout();
  });
  type.addEventListener("change", updateLayout);
  size.addEventListener("input", updateLayout);
  $("#rules-table tbody").append(tr);
  refreshInsertOptions();
  updateLayout();
  device.focus();
}

// The image's disks as the rules make them: [{device, source, size, type, from}].
function plannedLayout() {
  const inst = editorFor || {};
  const sd = inst.systemDisk || {};
  const sys = sd.diskCategory === "local" ? sd.localDisk || {} : sd.cloudDisk || {};
  const out = [
    {
      device: "vda",
      source: "instance",
      size: sys.diskSizeGB,
      type: sd.diskCategory === "local" ? "local" : sys.diskType,
      from: sd.diskCategory === "local" ? "local system disk" : sys.diskId || "system disk",
      system: true,
    },
  ];
  for (const tr of $$("#rules-table tr.rule-row")) {
    if (tr.classList.contains("inserted")) {
      out.push({
        device: $(".insert-device", tr).value,
        source: "new",
        size: Number($(".disk-size", tr).value),
        type: $(".disk-type", tr).value,
        from: "inserted, blank",
      });
      continue;
    }
    const rule = $(".rule", tr).value;
    if (rule === "exclude") continue;
    if (rule === "keep") {
      out.push({ device: tr.dataset.device, source: "instance", size: Number(tr.dataset.diskSize), type: tr.dataset.diskType, from: tr.dataset.diskId });
    } else {
      out.push({
        device: tr.dataset.device,
        source: "new",
        size: Number($(".replace-size", tr).value),
        type: $(".replace-type", tr).value,
        from: `replaces ${tr.dataset.diskId}, blank`,
      });
    }
  }
  return out.sort((a, b) => deviceOrder(a.device, b.device));
}

function updateLayout() {
  const disks = plannedLayout();
  $("#layout").replaceChildren(
    ...disks.map((d) =>
      el(
        "div",
        {
          class: "layout-disk" + (d.system ? " system" : ""),
          dataset: { device: d.device, source: d.source },
          title: d.source === "new" ? "a new blank disk" : "the instance's data, as it is now",
        },
        el("b", { text: d.device }),
        el("span", { text: `${gb(d.size)} ${d.type || ""}`.trim() }),
        el("br"),
        el("small", { text: d.from || "" }),
      ),
    ),
  );
}

function openImageEditor(inst) {
  clearError();
  editorFor = inst;
  $("#image-form").reset();
  $("#image-title").textContent = `Create an image from ${inst.instanceName || inst.instanceId}`;
  const rows = [...(inst.dataDisks || [])]
    .filter((d) => d.deviceName)
    .sort((a, b) => deviceOrder(a.deviceName, b.deviceName))
    .map(ruleRowFor);
  $("#rules-table tbody").replaceChildren(...rows);
  updateLayout();
  dialogs.open("image-dialog", "#image-name");
}

// createImage's dataDisks (seed/createImage.zh.md): keep = not named; exclude = noDevice;
// replace = the same deviceName with a new cloudDiskSpec; insert = a new deviceName.
function dataDiskRules() {
  const rules = [];
  for (const tr of $$("#rules-table tr.rule-row")) {
    if (tr.classList.contains("inserted")) {
      rules.push({
        deviceName: $(".insert-device", tr).value,
        diskCategory: "cloud",
        cloudDiskSpec: { diskType: $(".disk-type", tr).value, diskSizeGB: Number($(".disk-size", tr).value) },
      });
      continue;
    }
    const rule = $(".rule", tr).value;
    if (rule === "exclude") rules.push({ deviceName: tr.dataset.device, noDevice: true });
    if (rule === "replace") {
      rules.push({
        deviceName: tr.dataset.device,
        diskCategory: "cloud",
        cloudDiskSpec: { diskType: $(".replace-type", tr).value, diskSizeGB: Number($(".replace-size", tr).value) },
      });
    }
  }
  return rules;
}

async function submitImage(ev) {
  ev.preventDefault();
  const body = { name: $("#image-name").value.trim(), description: $("#image-description").value };
  const rules = dataDiskRules();
  if (rules.length) body.dataDisks = rules;
  const r = await act(() => api("POST", `instances/${editorFor.instanceId}:createImage`, { body }));
  if (r) {
    dialogs.close("image-dialog");
    imageSource = "private";
    go("images");
  }
}

// ---------------------------------------------------------------- images

let imageSource = "private";

function imageDisks(img) {
  const out = [];
  const sd = img.systemDisk || {};
  const sys = sd.localDisk || sd.cloudDisk || {};
  out.push(`vda ${sd.diskCategory || img.rootDeviceType} ${gb(sys.diskSizeGB || img.systemDiskSizeGB)}`);
  for (const d of img.dataDisks || []) {
    const c = d.cloudDisk || d.localDisk || {};
    out.push(`${d.deviceName} ${gb(c.diskSizeGB)}${c.snapshotId ? "" : " blank"}`);
  }
  return out.join(", ");
}

async function loadImages() {
  for (const b of $$(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.source === imageSource));
  const source = imageSource;
  const r = await api("GET", "images", { query: { imageSource: source, pageSize: 100 } });
  if (source !== imageSource) return;
  const own = source === "private";
  syncRows(
    $("#images-table"),
    r.images || [],
    (i) => i.imageId,
    (img) => {
      const tr = el("tr", {}, el("td", { class: "id" }), cells("name", "status", "progress", "source", "disks"));
      const acts = [rowButton("act-launch", "Launch…", "Launch an instance from this image", (i) => openLaunch(i.imageId))];
      if (own) {
        if (img.rootDeviceType === "cloudDisk") acts.push(rowButton("act-copy", "Copy…", "Copy to another region", openCopy));
        if (img.rootDeviceType === "localDisk") acts.push(rowButton("act-convert", "Convert…", "Convert to a cloud-disk image", openConvert));
        acts.push(rowButton("act-share", "Share…", "Share with other accounts", openShare));
        if (img.rootDeviceType === "cloudDisk") acts.push(rowButton("act-release", "Release…", "Release as a community image", openRelease));
        acts.push(rowButton("act-export", "Export…", "Export to object storage", openExport));
        acts.push(
          rowButton("act-delete", "Delete", "Delete image", async (i) => {
            if (await confirmAction(`Delete image ${i.name} (${i.imageId})?`)) {
              await act(() => api("DELETE", `images/${i.imageId}`));
              refreshSoon();
            }
          }),
        );
      }
      tr.append(el("td", { class: "actions" }, acts));
      return tr;
    },
    (tr, i) => {
      tr.cells[0].textContent = i.imageId;
      $(".name", tr).textContent = i.name;
      statusCell($(".status", tr), i.status);
      $(".progress", tr).textContent = i.progress !== undefined && i.progress !== "" ? `${i.progress}%` : "";
      $(".source", tr).textContent = `${i.imageSource} · ${i.rootDeviceType}${i.instanceId ? ` · from ${i.instanceId}` : ""}`;
      $(".disks", tr).textContent = imageDisks(i);
    },
  );
}

// A small form in #op-dialog: fields [{id, label, type, options, value}], then submit.
function openOp(title, fields, submit) {
  clearError();
  $("#op-title").textContent = title;
  $("#op-fields").replaceChildren(
    ...fields.flatMap((f) => {
      if (f.type === "text-only") return [el("p", { id: f.id, text: f.label })];
      let input;
      if (f.options) {
        input = el("select", { id: f.id });
        options(input, f.options, false);
        if (f.value) input.value = f.value;
      } else if (f.type === "checkbox") {
        input = el("input", { id: f.id, type: "checkbox", checked: !!f.value });
      } else {
        input = el("input", { id: f.id, type: f.type || "text", value: f.value || "", required: !!f.required, placeholder: f.placeholder });
      }
      return [el("label", { for: f.id, text: f.label }), input];
    }),
  );
  $("#op-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const ok = await act(submit);
    if (ok !== undefined) {
      dialogs.close("op-dialog");
      refreshSoon();
    }
  };
  dialogs.open("op-dialog");
}

function openCopy(img) {
  openOp(
    `Copy ${img.name} to another region`,
    [
      { id: "copy-region", label: "Destination region", options: REGIONS.filter((r) => r !== session.region) },
      { id: "copy-name", label: "Name of the copy (optional)" },
      { id: "copy-description", label: "Description (optional)" },
    ],
    async () => {
      const body = { sourceImageIds: [img.imageId], destinationRegion: $("#copy-region").value };
      if ($("#copy-name").value) body.name = $("#copy-name").value;
      if ($("#copy-description").value) body.description = $("#copy-description").value;
      return api("POST", "images:copyImages", { body });
    },
  );
}

function openConvert(img) {
  openOp(
    `Convert ${img.name}`,
    [{ id: "convert-text", type: "text-only", label: "Makes a new cloud-disk image from this local-disk image; this one stays." }],
    () => api("POST", `images/${img.imageId}:convertImage`, { body: {} }),
  );
}

async function openShare(img) {
  const members = await act(() => api("GET", `images/${img.imageId}/members`));
  if (!members) return;
  openOp(
    `Share ${img.name}`,
    [
      { id: "share-members", type: "text-only", label: `Shared with: ${(members.pins || []).join(", ") || "nobody"}` },
      { id: "share-action", label: "Action", options: [{ value: "share", label: "share" }, { value: "unshare", label: "unshare" }] },
      { id: "share-pins", label: "Account pins (comma-separated)", required: true },
    ],
    () => {
      const pins = $("#share-pins").value.split(/[\s,]+/).filter(Boolean);
      return api("POST", `images/${img.imageId}:${$("#share-action").value}`, { body: { pins } });
    },
  );
}

function openRelease(img) {
  openOp(
    `Release ${img.name}`,
    [
      { id: "release-text", type: "text-only", label: "A released image is listed under Community for every account; releasing revokes its shares." },
      { id: "release-action", label: "Action", options: [{ value: "release", label: "release" }, { value: "unrelease", label: "unrelease" }] },
    ],
    () => api("POST", `images/${img.imageId}:${$("#release-action").value}`, { body: {} }),
  );
}

function openExport(img) {
  openOp(
    `Export ${img.name}`,
    [
      { id: "export-oss-url", label: "ossUrl (an OSS bucket URL or file:///directory)", required: true },
      { id: "export-oss-prefix", label: "ossPrefix (optional)" },
      { id: "export-role", label: "roleName", value: "jdc_export_image_role" },
      { id: "export-all", label: "Export every disk (isAllDisk)", type: "checkbox" },
    ],
    async () => {
      const body = { roleName: $("#export-role").value, ossUrl: $("#export-oss-url").value.trim() };
      if ($("#export-oss-prefix").value) body.ossPrefix = $("#export-oss-prefix").value;
      if ($("#export-all").checked) body.isAllDisk = true;
      return api("POST", `images/${img.imageId}:exportImage`, { body });
    },
  );
}

// ---------------------------------------------------------------- disks & snapshots

async function loadDisks() {
  const r = await api("GET", "disks", { query: { pageSize: 100 } });
  cache.disks = r.disks || [];
  syncRows(
    $("#disks-table"),
    cache.disks,
    (d) => d.diskId,
    () => {
      const tr = el("tr", {}, el("td", { class: "id" }), cells("name", "status", "size", "type", "attached"));
      tr.append(
        el(
          "td",
          { class: "actions" },
          rowButton("act-snapshot", "Snapshot…", "Take a snapshot", (d) =>
            openOp(`Snapshot ${d.name || d.diskId}`, [{ id: "snapshot-name", label: "Snapshot name", required: true, value: `${d.name || "disk"}-snap` }], () =>
              api("POST", "snapshots", { body: { snapshotSpec: { diskId: d.diskId, name: $("#snapshot-name").value.trim() }, clientToken: KilnSign.nonce() } }),
            ),
          ),
          rowButton("act-delete", "Delete", "Delete disk", async (d) => {
            if (await confirmAction(`Delete disk ${d.name} (${d.diskId})?`)) {
              await act(() => api("DELETE", `disks/${d.diskId}`));
              refreshSoon();
            }
          }),
        ),
      );
      return tr;
    },
    (tr, d) => {
      tr.cells[0].textContent = d.diskId;
      $(".name", tr).textContent = d.name;
      statusCell($(".status", tr), d.status);
      $(".size", tr).textContent = gb(d.diskSizeGB);
      $(".type", tr).textContent = d.diskType;
      $(".attached", tr).textContent = (d.attachments || []).map((a) => `${a.instanceId}${a.status && a.status !== "attached" ? ` (${a.status})` : ""}`).join(", ");
    },
  );
}

async function submitDisk(ev) {
  ev.preventDefault();
  const diskSpec = {
    az: `${session.region}a`,
    name: $("#disk-name").value.trim(),
    diskType: $("#disk-type").value,
    diskSizeGB: Number($("#disk-size").value),
  };
  const r = await act(() => api("POST", "disks", { body: { diskSpec, maxCount: 1, clientToken: KilnSign.nonce() } }));
  if (r) {
    dialogs.close("disk-dialog");
    $("#disk-form").reset();
    refreshSoon();
  }
}

async function loadSnapshots() {
  const r = await api("GET", "snapshots", { query: { pageSize: 100 } });
  syncRows(
    $("#snapshots-table"),
    r.snapshots || [],
    (s) => s.snapshotId,
    () => {
      const tr = el("tr", {}, el("td", { class: "id" }), cells("name", "status", "disk", "size"));
      tr.append(
        el(
          "td",
          { class: "actions" },
          rowButton("act-delete", "Delete", "Delete snapshot", async (s) => {
            if (await confirmAction(`Delete snapshot ${s.name} (${s.snapshotId})?`)) {
              await act(() => api("DELETE", `snapshots/${s.snapshotId}`));
              refreshSoon();
            }
          }),
        ),
      );
      return tr;
    },
    (tr, s) => {
      tr.cells[0].textContent = s.snapshotId;
      $(".name", tr).textContent = s.name;
      statusCell($(".status", tr), s.status);
      $(".disk", tr).textContent = s.diskId;
      $(".size", tr).textContent = gb(s.snapshotSizeGB);
    },
  );
}

// ---------------------------------------------------------------- tasks & quotas

async function loadTasks() {
  const r = await api("GET", "imageTasks", { query: { pageSize: 100 } });
  syncRows(
    $("#tasks-table"),
    r.taskSet || [],
    (t) => t.taskId,
    () => el("tr", {}, el("td", { class: "id" }), cells("action", "status", "progress", "image", "message")),
    (tr, t) => {
      tr.cells[0].textContent = t.taskId;
      $(".action", tr).textContent = t.action;
      statusCell($(".status", tr), t.taskStatus);
      $(".progress", tr).textContent = `${t.progress}%`;
      $(".image", tr).textContent = t.imageId;
      $(".message", tr).textContent = t.message || t.ossObject || t.imageUrl || "";
    },
  );
}

async function loadQuotas() {
  const [vm, disk, snap] = await Promise.all([
    api("GET", "quotas"),
    api("GET", "quotas", { query: { type: "disk" } }),
    api("GET", "quotas", { query: { type: "snapshot" } }),
  ]);
  const rows = [];
  const seen = new Set();
  const add = (resource, used, limit) => {
    if (seen.has(resource)) return;
    seen.add(resource);
    rows.push({ resource, used, limit });
  };
  for (const q of vm.quotas || []) add(q.resourceType, q.used, q.limit);
  add("disk", disk.quota.used, disk.quota.limit);
  add("snapshot", snap.quota.used, snap.quota.limit);
  $("#quotas").replaceChildren(
    ...rows.map((q) => {
      const id = `quota-${q.resource}`;
      return el(
        "div",
        { class: "quota-bar" + (q.limit > 0 && q.used >= q.limit ? " full" : ""), dataset: { resource: q.resource } },
        el(
          "div",
          { class: "label" },
          el("label", { for: id, text: q.resource }),
          el("span", {}, el("span", { class: "used", text: String(q.used) }), " / ", el("span", { class: "limit", text: String(q.limit) })),
        ),
        el("progress", { id, max: Math.max(q.limit, 1), value: Math.min(q.used, Math.max(q.limit, 1)) }),
      );
    }),
  );
}

// ---------------------------------------------------------------- pages & polling

const loaders = {
  instances: loadInstances,
  images: loadImages,
  disks: loadDisks,
  snapshots: loadSnapshots,
  tasks: loadTasks,
  quotas: loadQuotas,
};

let current = null;
let loading = false;
let pollTimer = null;

function currentPage() {
  const h = location.hash.replace(/^#/, "");
  return PAGES.includes(h) ? h : "instances";
}

async function refresh() {
  if (!session.signedIn() || !current || loading) return;
  loading = true;
  try {
    await loaders[current]();
  } catch (e) {
    showError(e);
  } finally {
    loading = false;
  }
}

function refreshSoon() {
  setTimeout(refresh, 150);
}

function go(page) {
  if (location.hash !== `#${page}`) location.hash = page;
  else show();
}

function show() {
  const signedIn = session.signedIn();
  $("#nav").hidden = !signedIn;
  $("#page-signin").hidden = signedIn;
  if (!signedIn) {
    for (const p of PAGES) $(`#page-${p}`).hidden = true;
    current = null;
    $("#access-key").focus();
    return;
  }
  current = currentPage();
  for (const p of PAGES) $(`#page-${p}`).hidden = p !== current;
  for (const a of $$("#nav a")) {
    if (a.dataset.page === current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  $("#region-switch").value = session.region;
  $("#whoami").textContent = session.accessKey;
  document.title = `Kiln console · ${current}`;
  refresh();
}

function clearTables() {
  for (const t of $$("table tbody")) t.replaceChildren();
  $("#quotas").replaceChildren();
}

async function signIn(ev) {
  ev.preventDefault();
  const ak = $("#access-key").value.trim();
  const sk = $("#secret-key").value;
  const region = $("#region").value;
  session.save(ak, sk, region);
  // One signed call proves the keys before the pages open.
  const ok = await act(() => api("GET", "quotas"));
  if (!ok) {
    session.forget();
    return;
  }
  $("#secret-key").value = "";
  clearTables();
  show();
}

function signOut() {
  session.forget();
  for (const d of $$("dialog[open]")) d.close();
  clearTables();
  clearError();
  $("#signin").reset();
  show();
}

function start() {
  options($("#region"), REGIONS);
  options($("#region-switch"), REGIONS);
  options($("#disk-type"), DISK_TYPES);
  setUpDialogs();
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  $("#error-dismiss").addEventListener("click", clearError);
  $("#region-switch").addEventListener("change", (ev) => {
    session.region = ev.target.value;
    clearTables();
    clearError();
    refresh();
  });
  for (const b of $$(".tabs button")) {
    b.addEventListener("click", () => {
      imageSource = b.dataset.source;
      for (const t of $$(".tabs button")) t.setAttribute("aria-selected", String(t === b));
      $("#images-table tbody").replaceChildren();
      refresh();
    });
  }
  $("#launch-open").addEventListener("click", () => openLaunch());
  $("#launch-add-disk").addEventListener("click", addLaunchDisk);
  $("#launch-form").addEventListener("submit", submitLaunch);
  $("#attach-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const diskId = $("#attach-disk").value;
    const r = await act(() => api("POST", `instances/${attachFor.instanceId}:attachDisk`, { body: { diskId, autoDelete: false } }));
    if (r) {
      dialogs.close("attach-dialog");
      refreshSoon();
    }
  });
  $("#detach-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const diskId = $("#detach-disk").value;
    const r = await act(() => api("POST", `instances/${detachFor.instanceId}:detachDisk`, { body: { diskId } }));
    if (r) {
      dialogs.close("detach-dialog");
      refreshSoon();
    }
  });
  $("#rule-insert").addEventListener("click", insertRule);
  $("#image-form").addEventListener("submit", submitImage);
  $("#disk-create-open").addEventListener("click", () => {
    clearError();
    dialogs.open("disk-dialog", "#disk-name");
  });
  $("#disk-form").addEventListener("submit", submitDisk);
  window.addEventListener("hashchange", show);
  if (session.signedIn()) $("#region").value = session.region;
  show();
  pollTimer = setInterval(() => {
    if (current && current !== "quotas" && !document.hidden) refresh();
  }, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
