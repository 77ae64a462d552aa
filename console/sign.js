// JDCLOUD2-HMAC-SHA256 request signing with WebCrypto, exactly as src/signing.rs
// (`sign_headers_at`): signed headers content-type;host;x-jdcloud-date;x-jdcloud-nonce.
"use strict";

const KilnSign = (() => {
  const enc = new TextEncoder();

  function hex(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sha256Hex(data) {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    return hex(await crypto.subtle.digest("SHA-256", bytes));
  }

  async function hmac(key, data) {
    const k = await crypto.subtle.importKey(
      "raw",
      typeof key === "string" ? enc.encode(key) : key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return crypto.subtle.sign("HMAC", k, enc.encode(data));
  }

  const UNRESERVED = /[A-Za-z0-9\-_.~]/;

  // Percent-encodes each UTF-8 byte but unreserved characters (and `/` if keepSlash).
  function encode(s, keepSlash) {
    let out = "";
    for (const b of enc.encode(s)) {
      const c = String.fromCharCode(b);
      if ((b < 128 && UNRESERVED.test(c)) || (keepSlash && c === "/")) out += c;
      else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }
    return out;
  }

  function decode(s, plusIsSpace) {
    if (plusIsSpace) s = s.replace(/\+/g, " ");
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  }

  // signing::canonical_uri: decoded, `//` collapsed, encoded (so `:` becomes `%3A`).
  function canonicalUri(path) {
    const collapsed = decode(path, false).replace(/\/{2,}/g, "/");
    return collapsed === "" ? "/" : encode(collapsed, true);
  }

  // signing::canonical_query (keep_bare = false): pairs re-encoded, sorted by key then value.
  function canonicalQuery(query) {
    const pairs = [];
    for (const item of query.split("&")) {
      if (!item) continue;
      const i = item.indexOf("=");
      if (i <= 0) continue;
      pairs.push([encode(decode(item.slice(0, i), true), false), encode(decode(item.slice(i + 1), true), false)]);
    }
    const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
    pairs.sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]));
    return pairs.map(([k, v]) => `${k}=${v}`).join("&");
  }

  function timestamp(now) {
    return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  }

  function nonce() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    const h = hex(b);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // The headers to send: x-jdcloud-date, x-jdcloud-nonce, content-type, authorization.
  async function signHeaders({ accessKey, secretKey, service, region, method, host, path, query, body, ts, nonce: n }) {
    ts = ts || timestamp(new Date());
    n = n || nonce();
    const contentType = "application/json";
    const date = ts.slice(0, 8);
    const signed = "content-type;host;x-jdcloud-date;x-jdcloud-nonce";
    const canonical = [
      method,
      canonicalUri(path),
      canonicalQuery(query || ""),
      `content-type:${contentType}`,
      `host:${host.trim()}`,
      `x-jdcloud-date:${ts}`,
      `x-jdcloud-nonce:${n}`,
      "",
      signed,
      await sha256Hex(body || ""),
    ].join("\n");
    const scope = `${date}/${region}/${service}/jdcloud2_request`;
    const toSign = ["JDCLOUD2-HMAC-SHA256", ts, scope, await sha256Hex(canonical)].join("\n");
    let key = await hmac("JDCLOUD2" + secretKey, date);
    key = await hmac(key, region);
    key = await hmac(key, service);
    key = await hmac(key, "jdcloud2_request");
    const signature = hex(await hmac(key, toSign));
    return {
      "x-jdcloud-date": ts,
      "x-jdcloud-nonce": n,
      "content-type": contentType,
      authorization: `JDCLOUD2-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    };
  }

  return { signHeaders, nonce, canonicalUri, canonicalQuery, encode, sha256Hex, timestamp };
})();
