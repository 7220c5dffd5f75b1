// Evidence snapshot of what Phala's CLI (npm phala) sends to the Phala Cloud
// API: for each CLI command, the method and path template of every API
// request, with the X-Phala-Version, query keys and JSON body keys, and the
// SDK action (if any) that sends it; and what the log commands ask of the log
// endpoints (URLs taken from API answers, not API paths).
//
// How: the CLI itself runs (node, its own bin) against a fake Phala Cloud API
// on 127.0.0.1 (PHALA_CLOUD_API_PREFIX; a throwaway PHALA_CLOUD_DIR and HOME
// keep credentials and SSH keys away from the real ones). The fake API answers
// each request the SDK knows with an example built from the SDK's own
// response schema (the JSON Schemas of xtask/evidence/sdk-typescript.json,
// made by scripts/evidence/typescript-sdk.sh), and the few requests only the
// CLI sends with answers written here, so that multi-step commands go on.
// Each recorded path has its sentinel ids turned into {parameter} names.
//
// Which SDK action backs a call is read from the call's JavaScript stack: a
// --import hook wraps fetch in the CLI process and passes the stack along.
// The CLI bundles the SDK (dist/index.js holds @phala/cloud's code in one
// stretch); a request whose caller (the frame below the SDK client's
// get/post/...) lies inside that stretch is sent by an SDK action, named by
// matching the request against the SDK snapshot; a caller outside it is the
// CLI's own code using the SDK client directly ("sdk_method": null).
//
// What the runs cannot reach (requests after an on-chain transaction: the
// hook refuses the chain's JSON-RPC) is read from the CLI's bundled code and
// listed with "found_by": "source" (SOURCE_CALLS below), and so are the
// commands that send no API request and are not run (NO_API below).
//
// Run by scripts/evidence/phala-cli.sh, which installs the pinned packages
// from the npm registry; so it runs only when asked. CI compares the
// committed snapshot offline.
//
//   node extract_phala_cli.mjs SDK_SNAPSHOT.json OUTPUT.json
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const [sdkSnapshotPath, out] = process.argv.slice(2);
if (!sdkSnapshotPath || !out) throw new Error("usage: node extract_phala_cli.mjs SDK_SNAPSHOT.json OUTPUT.json");
const here = path.dirname(new URL(import.meta.url).pathname);
const pkg = (name) => JSON.parse(fs.readFileSync(path.join(here, "node_modules", name, "package.json"), "utf8"));
const cliPkg = pkg("phala");
const cliBin = path.join(here, "node_modules", "phala", cliPkg.bin.phala);
const sdkSnapshot = JSON.parse(fs.readFileSync(sdkSnapshotPath, "utf8"));
const DEBUG = !!process.env.EVIDENCE_DEBUG;

// ---------------------------------------------------------------------------
// Sentinels: ids that the fake API hands out and the commands are given. A
// path segment equal to one of them becomes {name}, the name chosen by the
// segment before it (the API's own parameter names).
const APP_ID = "5e471e10".repeat(5);
const INSTANCE_ID = "1e5171e0".repeat(5);
const VM_UUID = "5e471e10-0000-4000-8000-5e471e100000";
const CVM_ID = "cvm_SENTINELcvm";
const CVM_NAME = "sentinel-app";
const KMS_ID = "kms_SENTINELkms";
const KEY_ID = "sshkey_SENTINELkey";
const TEAM_SLUG = "sentinel-team";
const HEX64 = "5e471e10".repeat(8);
const SENTINEL_VALUES = new Set([
  APP_ID,
  `app_${APP_ID}`,
  `0x${APP_ID}`,
  INSTANCE_ID,
  `instance_${INSTANCE_ID}`,
  VM_UUID,
  VM_UUID.replace(/-/g, ""),
  CVM_ID,
  CVM_NAME,
  KMS_ID,
  KEY_ID,
  TEAM_SLUG,
  "1", // numeric ids (node ids, VM ids) the fake API hands out
]);
const PARAM_AFTER = {
  cvms: "cvm_id",
  apps: "app_id",
  kms: "kms_id",
  pubkey: "app_id",
  "on-chain": "chain",
  "instance-types": "family",
  "ssh-keys": "key_id",
  revisions: "revision_id",
  workspaces: "team_slug",
};
// Literal segments of the API that also follow those words.
const LITERAL_AFTER = new Set([
  "cvms/paginated",
  "cvms/provision",
  "cvms/instance-ids",
  "cvms/pubkey",
  "pubkey/from_cvm_configuration",
  "cvms/from_cvm_configuration",
  "apps/filter-options",
  "kms/on-chain",
  "ssh-keys/github-profile",
  "ssh-keys/github-sync",
]);

function template(pathname) {
  const segs = pathname.split("/");
  return segs
    .map((seg, i) => {
      const value = decodeURIComponent(seg);
      const prev = segs[i - 1];
      // /kms/phala/next_app_id is literal; /kms/phala/pubkey/{app_id} is the KMS "phala".
      const literal = LITERAL_AFTER.has(`${prev}/${value}`) || (prev === "kms" && segs[i + 1] === "next_app_id");
      if (i > 0 && PARAM_AFTER[prev] && !literal) {
        if (!SENTINEL_VALUES.has(value) && !["phala", "ethereum", "base", "cpu", "gpu"].includes(value)) {
          throw new Error(`unexpected id ${value} in ${pathname}`);
        }
        return `{${PARAM_AFTER[prev]}}`;
      }
      if (SENTINEL_VALUES.has(value) && value !== "1") throw new Error(`sentinel ${value} at an unexpected place in ${pathname}`);
      return seg;
    })
    .join("/");
}

// ---------------------------------------------------------------------------
// The SDK's requests and response schemas, from the SDK snapshot.
const sdkCalls = sdkSnapshot.calls;
const templates = [...new Set(sdkCalls.map((c) => `${c.method} ${c.path}`))].map((k) => {
  const [method, p] = k.split(" ");
  return { method, path: p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, "[^/]+")}$`) };
});
function sdkTemplateFor(method, pathname) {
  const hits = templates.filter((t) => t.method === method && t.re.test(pathname));
  // The most literal template wins (/cvms/paginated over /cvms/{cvm_id}).
  hits.sort((a, b) => (a.path.match(/\{/g) || []).length - (b.path.match(/\{/g) || []).length);
  return hits[0]?.path ?? null;
}

// An example value for a JSON Schema (the snapshot's, from zod-to-json-schema),
// with ids and a few other fields given the sentinel values above.
let ORIGIN = "";
let ONCHAIN = false; // set for runs that take the on-chain KMS path
function example(schema, root, key, depth = 0) {
  if (depth > 30) return null;
  if (schema === true || schema === undefined) return {};
  if (schema.$ref) {
    let target = root;
    for (const part of schema.$ref.replace(/^#\/?/, "").split("/").filter(Boolean)) target = target[decodeURIComponent(part)];
    return example(target, root, key, depth + 1);
  }
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const special = byKey(key, schema);
  if (special !== undefined) return special;
  for (const k of ["anyOf", "oneOf"]) {
    if (schema[k]) {
      const options = schema[k].filter((o) => !(o.not && Object.keys(o.not).length === 0));
      const nonNull = options.filter((o) => o.type !== "null");
      return example(nonNull[0] ?? options[0], root, key, depth + 1);
    }
  }
  if (schema.allOf) return example(schema.allOf[0], root, key, depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null") ?? "null";
  switch (type) {
    case "object": {
      const value = {};
      for (const [k, s] of Object.entries(schema.properties ?? {})) value[k] = example(s, root, k, depth + 1);
      if (!schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object") {
        value[VM_UUID] = example(schema.additionalProperties, root, "vm_uuid_record", depth + 1);
      }
      return value;
    }
    case "array":
      if (Array.isArray(schema.items)) return schema.items.map((s) => example(s, root, key, depth + 1));
      return [example(schema.items ?? {}, root, key, depth + 1)];
    case "string":
      return "sentinel"; // also every container's name: the log runs ask for "sentinel"
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return {};
  }
}
const nullable = (schema) =>
  (Array.isArray(schema.type) && schema.type.includes("null")) || (schema.anyOf ?? []).some((o) => o.type === "null");
function byKey(key, schema) {
  if (key === undefined) return undefined;
  const isString = schema.type === "string" || (Array.isArray(schema.type) && schema.type.includes("string"));
  // On-chain KMS fields stay empty (the CLI then takes the Phala KMS path),
  // except in the runs that follow the on-chain path up to its first
  // JSON-RPC request (which the fetch hook refuses).
  if (["chain_id", "kms_contract_address", "contract_address", "app_auth_contract_address", "chain"].includes(key)) {
    if (!ONCHAIN && nullable(schema)) return null;
    if (ONCHAIN && key === "chain_id") return 8453;
    if (ONCHAIN && key === "chain" && schema.type === "object") return undefined;
    if (ONCHAIN && key !== "chain") return `0x${APP_ID}`;
  }
  if (ONCHAIN && key === "is_onchain_kms") return true;
  if (!isString) {
    if (["is_online", "is_public", "public_logs", "public_sysinfo", "listed", "kms_enabled", "gateway_enabled"].includes(key)) return true;
    return undefined;
  }
  if (key === "app_id") return APP_ID;
  if (key === "instance_id") return INSTANCE_ID;
  if (key === "vm_uuid" || key === "uuid") return VM_UUID;
  if (key === "id") return CVM_ID;
  if (key === "name" || key === "app_name" || key === "hostname") return CVM_NAME;
  if (key === "slug" || key === "team_slug" || key === "kms_slug") return key === "kms_slug" ? KMS_ID : TEAM_SLUG;
  if (key === "kms_id" || key === "default_kms") return KMS_ID;
  if (key === "status") return "running";
  if (key === "kms_type") return "phala";
  if (key === "log_endpoint") return `${ORIGIN}/logs/container?token=sentinel`;
  if (key === "syslog_endpoint") return `${ORIGIN}/logs/syslog?token=sentinel`;
  if (key.endsWith("_at") || key === "as_of" || key === "not_before" || key === "not_after") return "2025-01-01T00:00:00Z";
  if (key.endsWith("url") || key.endsWith("_endpoint")) return `${ORIGIN}/external/${key}`;
  if (key.includes("domain") || key === "gateway") return "gateway.sentinel.invalid";
  if (["compose_hash", "device_id", "os_image_hash", "rootfs_hash", "mrtd", "digest"].includes(key)) return HEX64;
  if (["public_key", "app_env_encrypt_pubkey", "encrypted_env_pubkey", "env_pubkey", "pubkey"].includes(key)) return HEX64;
  if (key === "signature") return `0x${"00".repeat(65)}`;
  if (key === "docker_compose_file" || key === "compose_file") return "services:\n  app:\n    image: nginx\n";
  if (key === "version" || key === "image_version") return "0.5.3";
  if (key === "memory" || key === "memory_mb") return undefined;
  return undefined;
}

// ---------------------------------------------------------------------------
// Answers the SDK does not describe: requests only the CLI sends (read from
// its bundled code), and the log endpoints.
function cliOnlyAnswer(method, pathname) {
  const cvm = {
    id: 1,
    name: CVM_NAME,
    status: "running",
    teepod_id: 1,
    teepod: { id: 1, name: "node-1" },
    user_id: 1,
    app_id: APP_ID,
    vm_uuid: VM_UUID,
    instance_id: INSTANCE_ID,
    app_url: `${ORIGIN}/external/app_url`,
    base_image: "dstack-0.5.3",
    vcpu: 1,
    memory: 2048,
    disk_size: 40,
    manifest_version: 2,
    version: "1.0.0",
    runner: "docker-compose",
    docker_compose_file: "services:\n  app:\n    image: nginx\n",
    features: ["kms"],
    created_at: "2025-01-01T00:00:00Z",
    encrypted_env_pubkey: HEX64,
  };
  if (method === "POST" && pathname === "/cvms/pubkey/from_cvm_configuration") {
    return { app_env_encrypt_pubkey: HEX64, app_id_salt: HEX64, app_id: APP_ID };
  }
  if (method === "POST" && pathname === "/cvms/from_cvm_configuration") return cvm;
  if (method === "PUT" && /^\/cvms\/[^/]+\/compose$/.test(pathname)) return cvm;
  if (method === "PATCH" && /^\/cvms\/[^/]+\/resources$/.test(pathname)) return {};
  if (method === "POST" && /^\/cvms\/[^/]+\/commit-replica$/.test(pathname)) return cvm;
  if (method === "POST" && pathname === "/auth/device/code") {
    return {
      device_code: "sentinel-device",
      user_code: "SENT-INEL",
      verification_uri: `${ORIGIN}/external/verify`,
      verification_uri_complete: `${ORIGIN}/external/verify?code=SENT-INEL`,
      expires_in: 60,
      interval: 1,
    };
  }
  if (method === "POST" && pathname === "/auth/device/token") return { access_token: "sentinel-api-key", token_type: "Bearer" };
  // Requests the SDK sends but whose answer it validates only through a
  // derived object (patchCvm, confirmCvmPatch, commitCvmUpdate).
  if (method === "PATCH" && /^\/cvms\/[^/]+$/.test(pathname)) return { correlation_id: "sentinel-correlation" };
  if (method === "POST" && /^\/cvms\/[^/]+\/commit-update$/.test(pathname)) {
    return { correlation_id: "sentinel-correlation", status: "in_progress" };
  }
  return undefined;
}

const SCHEMA_FOR = new Map(); // "METHOD template version" -> schema name
for (const c of sdkCalls) SCHEMA_FOR.set(`${c.method} ${c.path} ${c.api_version}`, c.response);
const defaultVersion = sdkSnapshot.versions.default;

function answerFor(method, pathname, version) {
  const special = cliOnlyAnswer(method, pathname);
  if (special !== undefined) return special;
  const t = sdkTemplateFor(method, pathname);
  if (!t) return undefined;
  const v = sdkSnapshot.versions.supported.includes(version) ? version : defaultVersion;
  const name = SCHEMA_FOR.get(`${method} ${t} ${v}`);
  if (!name) return {};
  const schema = sdkSnapshot.schemas[name];
  return example(schema, schema, undefined);
}

// ---------------------------------------------------------------------------
// The recording server.
let recorded = [];
let currentSpec = null;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url, "http://x");
    const stackHeader = req.headers["x-evidence-stack"];
    const stack = stackHeader ? JSON.parse(Buffer.from(stackHeader, "base64").toString("utf8")) : null;
    recorded.push({ method: req.method, url, headers: req.headers, raw, stack });
    if (url.pathname.startsWith("/logs/")) {
      // Log endpoints: one NDJSON line as dstack's log API answers.
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`${JSON.stringify({ channel: "stdout", message: Buffer.from("sentinel log line\n").toString("base64") })}\n`);
      return;
    }
    if (!url.pathname.startsWith("/api/v1/")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    const pathname = url.pathname.slice("/api/v1".length);
    if ((req.headers.accept || "").includes("text/event-stream")) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('event: state\ndata: {"status":"running"}\n\nevent: complete\ndata: {}\n\n');
      return;
    }
    const override = currentSpec?.answer?.(req.method, pathname, req.headers);
    if (override) {
      res.writeHead(override.status, { "content-type": "application/json" });
      res.end(JSON.stringify(override.body));
      return;
    }
    const answer = answerFor(req.method, pathname, req.headers["x-phala-version"]);
    if (answer === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ detail: "not simulated" }));
      return;
    }
    if (typeof answer === "string") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(answer);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer));
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
ORIGIN = `http://127.0.0.1:${server.address().port}`;

// The fetch hook loaded into the CLI process: it passes each request's stack
// to the fake API and refuses any request that would leave this machine.
const hookPath = path.join(here, "evidence_fetch_hook.mjs");
fs.writeFileSync(
  hookPath,
  `Error.stackTraceLimit = 60;
const original = globalThis.fetch;
globalThis.fetch = function (input, init) {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  if (url.hostname !== "127.0.0.1") return Promise.reject(new Error("evidence: no request leaves this machine: " + url.origin));
  const frames = new Error().stack.split("\\n").slice(1).map((l) => l.trim());
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set("x-evidence-stack", Buffer.from(JSON.stringify(frames)).toString("base64"));
  return original(input, { ...init, headers });
};
`,
);

// Where the bundled SDK lies in the CLI's bundle: from the SDK's first module
// (src/utils/errors.ts, ApiErrorSchema: object({detail: union(...)})) to its
// last one (src/parse_dotenv.ts, whose line regex follows the last action).
const bundle = fs.readFileSync(cliBin, "utf8");
const sdkStart = bundle.search(/\.object\(\{detail:[A-Za-z_$]+\.union\(\[/);
const sdkEnd = bundle.indexOf("(?:export\\s+)?([\\w.-]+)");
if (sdkStart < 0 || sdkEnd < sdkStart) throw new Error("cannot find the bundled SDK in the CLI");
for (const inside of ["/apps/${n}/attestations", "/cvms/paginated", "X-Phala-Version"]) {
  const at = bundle.indexOf(inside);
  if (at < sdkStart || at > sdkEnd) throw new Error(`${inside} is not in the bundled SDK stretch`);
}
for (const outside of ["cvms/app_${n}/attestation", "commit-replica", "/auth/device/code"]) {
  const at = bundle.indexOf(outside);
  if (at > sdkStart && at < sdkEnd) throw new Error(`${outside} is in the bundled SDK stretch`);
}
const lineStarts = [0];
for (let i = 0; i < bundle.length; i++) if (bundle[i] === "\n") lineStarts.push(i + 1);
function bundleOffset(frame) {
  const m = frame.match(/\((?:file:\/\/)?(.*):(\d+):(\d+)\)$/) || frame.match(/at (?:async )?(?:file:\/\/)?(.*):(\d+):(\d+)$/);
  if (!m || path.resolve(m[1]) !== path.resolve(cliBin)) return null;
  return lineStarts[Number(m[2]) - 1] + Number(m[3]) - 1;
}
// "sdk": an SDK action sent it; "cli": the CLI's own code did (through the
// SDK client or fetch); null: no stack.
function sender(stack) {
  if (!stack) return null;
  const offsets = stack.map(bundleOffset).filter((o) => o !== null);
  if (offsets.length === 0) return null;
  const inSdk = (o) => o >= sdkStart && o < sdkEnd;
  // Frames inside the SDK from the top: the client's methods, then maybe
  // the action. The action is there if the SDK stretch holds more than the
  // client frames: the first frame outside is the CLI's caller.
  const firstOutside = offsets.findIndex((o) => !inSdk(o));
  const sdkFrames = firstOutside < 0 ? offsets : offsets.slice(0, firstOutside);
  if (sdkFrames.length === 0) return "cli";
  return sdkFrames.some((o) => !CLIENT_METHOD_RANGES.some(([a, b]) => o >= a && o < b)) ? "sdk" : "cli";
}
// The SDK client's own methods (class Client in src/client.ts): from the
// "class" keyword before its constructor (the one that sets X-Phala-Version)
// into its last method, extend(). Frames there are the client (get, post,
// safeRequest...), not an action; the frame below them is the caller.
const clientStart = bundle.indexOf('"X-Phala-Version":', sdkStart);
const clientEnd = bundle.indexOf("withVersion(", clientStart);
const CLIENT_METHOD_RANGES = [[bundle.lastIndexOf("class", clientStart), bundle.indexOf("}", bundle.indexOf("extend(", clientEnd))]];

function describeBody(r) {
  if (r.raw.length === 0) return null;
  const type = (r.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
  if (type === "multipart/form-data") return "multipart";
  if (type === "application/json" || type === "") {
    try {
      const value = JSON.parse(r.raw.toString("utf8"));
      if (value && typeof value === "object" && !Array.isArray(value)) return Object.keys(value).sort();
    } catch {}
    return type || "unknown";
  }
  return type;
}

// The SDK action for a request the bundled SDK sent: the one the SDK snapshot
// says sends this method and path with these query and body keys.
function sdkMethodFor(call) {
  const same = sdkCalls.filter((c) => c.method === call.method && c.path === call.path);
  const names = [...new Set(same.map((c) => c.sdk_method))];
  if (names.length <= 1) return names[0] ?? null;
  const fits = (c) => {
    const subset = (a, b) => (a ?? []).every((k) => (b ?? []).includes(k));
    if (Array.isArray(call.body) !== Array.isArray(c.body)) return false;
    if (Array.isArray(call.body) && !subset(call.body, c.body)) return false;
    return subset(call.query, c.query);
  };
  let fitting = [...new Set(same.filter(fits).map((c) => c.sdk_method))];
  if (fitting.length > 1) {
    // Same keys: the action whose own request has exactly these keys.
    const exact = [
      ...new Set(
        same
          .filter((c) => JSON.stringify(c.query) === JSON.stringify(call.query) && JSON.stringify(c.body) === JSON.stringify(call.body))
          .map((c) => c.sdk_method),
      ),
    ];
    if (exact.length === 1) fitting = exact;
  }
  if (fitting.length !== 1) throw new Error(`cannot tell which SDK action sent ${JSON.stringify(call)}: ${fitting}`);
  return fitting[0];
}

// ---------------------------------------------------------------------------
// The commands run, in the CLI's own words. Each runs in a fresh PHALA_CLOUD_DIR
// and HOME with stdin closed (no prompt can wait), the default API version,
// and a time limit. "files" are written into the working directory first.
const COMPOSE = "services:\n  app:\n    image: nginx\n";
// The API's answer when a change needs the compose hash registered on chain
// first (HTTP 465 with structured details), for the --prepare-only flows.
const needsOnChainHash = (method, pathname, headers) =>
  headers["x-prepare-only"] === "true" || (method === "POST" && pathname.endsWith("/replicas"))
    ? {
        status: 465,
        body: {
          detail: {
            error_code: "ERR-SENTINEL",
            message: "compose hash must be registered on chain",
            details: [
              { field: "compose_hash", value: HEX64 },
              { field: "app_id", value: APP_ID },
              { field: "device_id", value: HEX64 },
              { field: "kms_info", value: { id: KMS_ID, slug: KMS_ID, url: `${ORIGIN}/external/kms`, version: "0.5.3", chain_id: 8453, kms_contract_address: `0x${APP_ID}`, gateway_app_id: APP_ID } },
              { field: "commit_token", value: "sentinel-token" },
              { field: "commit_url", value: `${ORIGIN}/external/commit_url` },
              { field: "api_commit_url", value: `${ORIGIN}/external/api_commit_url` },
            ],
          },
        },
      }
    : undefined;
const RUNS = [
  { command: "whoami", argv: ["whoami"] },
  { command: "status", argv: ["status", "--json"] },
  { command: "login", argv: ["login", "sentinel-api-key", "--no-open"], noKey: true },
  { command: "login (device flow)", argv: ["login", "--no-open"], noKey: true },
  { command: "logout", argv: ["logout"] },
  { command: "profiles", argv: ["profiles"] },
  { command: "config list", argv: ["config", "list"] },
  { command: "help", argv: ["help", "envs"] },
  { command: "apps", argv: ["apps", "--page", "1", "--page-size", "10", "--search", "s", "--status", "running", "--listed", "--base-image", "b", "--instance-type", "tdx.small", "--kms-type", "phala", "--node", "n", "--region", "r", "--json"] },
  { command: "cvms list", argv: ["cvms", "list", "--page", "1", "--page-size", "10", "--search", "s", "--status", "running", "--listed", "--base-image", "b", "--instance-type", "tdx.small", "--kms-type", "phala", "--node", "n", "--region", "r", "--json"] },
  { command: "cvms get", argv: ["cvms", "get", CVM_ID, "--json"] },
  { command: "cvms attestation", argv: ["cvms", "attestation", CVM_ID, "--json"] },
  { command: "cvms device-allowlist", argv: ["cvms", "device-allowlist", CVM_ID, "--json"] },
  { command: "cvms list-nodes", argv: ["cvms", "list-nodes", "--json"] },
  { command: "cvms start", argv: ["cvms", "start", CVM_ID, "--json"] },
  { command: "cvms stop", argv: ["cvms", "stop", CVM_ID, "--json"] },
  { command: "cvms restart", argv: ["cvms", "restart", CVM_ID, "--json"] },
  { command: "cvms delete", argv: ["cvms", "delete", CVM_ID, "--force", "--json"] },
  { command: "cvms resize", argv: ["cvms", "resize", CVM_ID, "--vcpu", "2", "--memory", "4096", "--disk-size", "50", "--allow-restart", "true", "--yes", "--json"] },
  { command: "cvms replicate", argv: ["cvms", "replicate", CVM_ID, "--node-id", "1", "--json"] },
  { command: "cvms logs", argv: ["cvms", "logs", CVM_ID, "--tail", "10", "--timestamps"] },
  { command: "cvms serial-logs", argv: ["cvms", "serial-logs", CVM_ID, "--tail", "10", "--timestamps"] },
  { command: "cvms upgrade", argv: ["cvms", "upgrade", CVM_ID, "--compose", "docker-compose.yml"], files: { "docker-compose.yml": COMPOSE } },
  // The fake node's OS images are all named CVM_NAME (the "name" rule).
  { command: "cvms create", argv: ["cvms", "create", "--name", CVM_NAME, "--compose", "docker-compose.yml", "--skip-env", "--teepod-id", "1", "--image", CVM_NAME], files: { "docker-compose.yml": COMPOSE } },
  { command: "cvms replicate --prepare-only", argv: ["cvms", "replicate", CVM_ID, "--node-id", "1", "--prepare-only", "--json"], answer: needsOnChainHash },
  { command: "cvms replicate --commit", argv: ["cvms", "replicate", CVM_ID, "--commit", "--token", "t", "--compose-hash", HEX64, "--transaction-hash", "0x00", "--json"] },
  { command: "envs encrypt", argv: ["envs", "encrypt", CVM_ID, "-e", "FOO=bar"] },
  { command: "envs update", argv: ["envs", "update", CVM_ID, "-e", "FOO=bar", "--json"] },
  { command: "instances ls", argv: ["instances", "ls", "--app-id", APP_ID, "--json"] },
  { command: "instances add", argv: ["instances", "add", "--app-id", APP_ID, "--node-id", "1", "-c", "docker-compose.yml", "--json"], files: { "docker-compose.yml": COMPOSE } },
  { command: "instances add --prepare-only", argv: ["instances", "add", "--app-id", APP_ID, "--node-id", "1", "-c", "docker-compose.yml", "--prepare-only", "--json"], files: { "docker-compose.yml": COMPOSE }, answer: (m, p, h) => (p.endsWith("/instances") ? needsOnChainHash(m, p, { "x-prepare-only": "true" }) : undefined) },
  { command: "instances add --commit", argv: ["instances", "add", "--app-id", APP_ID, "--commit", "--token", "t", "--compose-hash", HEX64, "--transaction-hash", "0x00", "--json"] },
  { command: "instances rm", argv: ["instances", "rm", VM_UUID, "--force", "--json"] },
  { command: "instance-types", argv: ["instance-types", "--json"] },
  { command: "instance-types <family>", argv: ["instance-types", "cpu", "--json"] },
  { command: "nodes list", argv: ["nodes", "list", "--page", "1", "--page-size", "10", "--json"] },
  { command: "os-images", argv: ["os-images", "--page", "1", "--page-size", "10", "--dev", "--json"] },
  { command: "kms list", argv: ["kms", "list", "--json"] },
  { command: "kms ethereum", argv: ["kms", "ethereum", "--json"] },
  { command: "kms base", argv: ["kms", "base", "--json"] },
  { command: "ssh-keys list", argv: ["ssh-keys", "list", "--json"] },
  { command: "ssh-keys add", argv: ["ssh-keys", "add", "--name", "sentinel-key", "--key-file", "id_ed25519.pub", "--json"], files: { "id_ed25519.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl sentinel\n" } },
  { command: "ssh-keys remove", argv: ["ssh-keys", "remove", KEY_ID, "--json"] },
  { command: "ssh-keys import-github", argv: ["ssh-keys", "import-github", "sentinel", "--json"] },
  { command: "link", argv: ["link", CVM_ID] },
  { command: "logs", argv: ["logs", "sentinel", "--cvm-id", CVM_ID, "--tail", "10", "--timestamps", "--since", "42m", "--until", "1m"] },
  { command: "logs --stderr", argv: ["logs", "sentinel", "--cvm-id", CVM_ID, "--stderr", "--tail", "10"] },
  { command: "logs --serial", argv: ["logs", "--serial", "--cvm-id", CVM_ID, "--tail", "10", "--timestamps"] },
  { command: "logs --cvm-stdout", argv: ["logs", "--cvm-stdout", "--cvm-id", CVM_ID, "--tail", "10"] },
  { command: "logs --cvm-stderr", argv: ["logs", "--cvm-stderr", "--cvm-id", CVM_ID, "--tail", "10"] },
  { command: "logs --follow", argv: ["logs", "sentinel", "--cvm-id", CVM_ID, "--follow", "--tail", "10"] },
  { command: "ps", argv: ["ps", CVM_ID, "--json"] },
  { command: "runtime-config", argv: ["runtime-config", CVM_ID, "--json"] },
  { command: "ssh", argv: ["ssh", CVM_ID, "--dry-run"] },
  { command: "cp", argv: ["cp", "--dry-run", "local.txt", `${CVM_ID}:/root/remote.txt`], files: { "local.txt": "x\n" } },
  { command: "deploy", argv: ["deploy", "--name", CVM_NAME, "--compose", "docker-compose.yml", "--instance-type", "tdx.small", "--json"], files: { "docker-compose.yml": COMPOSE } },
  { command: "deploy (update)", argv: ["deploy", "--cvm-id", CVM_ID, "--compose", "docker-compose.yml", "--json"], files: { "docker-compose.yml": COMPOSE } },
  { command: "deploy (update) --prepare-only", argv: ["deploy", "--cvm-id", CVM_ID, "--compose", "docker-compose.yml", "--prepare-only", "--json"], files: { "docker-compose.yml": COMPOSE }, answer: needsOnChainHash },
  { command: "deploy (update) --commit", argv: ["deploy", "--cvm-id", CVM_ID, "--commit", "--token", "t", "--compose-hash", HEX64, "--transaction-hash", "0x00", "--json"] },
  {
    command: "deploy --kms base",
    argv: ["deploy", "--name", CVM_NAME, "--compose", "docker-compose.yml", "--kms", "base", "--private-key", `0x${"11".repeat(32)}`, "--json"],
    files: { "docker-compose.yml": COMPOSE },
    onchain: true,
    // A provision answer without app_id sends the CLI down the on-chain path.
    answer: (m, p, h) => (m === "POST" && p === "/cvms/provision" ? { status: 200, body: { ...answerFor(m, p, h["x-phala-version"]), app_id: null } } : undefined),
  },
  {
    command: "envs update (on-chain KMS)",
    argv: ["envs", "update", CVM_ID, "-e", "FOO=bar", "--private-key", `0x${"11".repeat(32)}`, "--json"],
    onchain: true,
    answer: (m, p) => (m === "PATCH" && p.endsWith("/envs") ? needsOnChainHash(m, p, { "x-prepare-only": "true" }) : undefined),
  },
  { command: "api", argv: ["api", "/cvms/paginated"] },
  { command: "auth status", argv: ["auth", "status", "--json"] },
  { command: "allow-devices list", argv: ["allow-devices", "list", CVM_ID, "--json"], onchain: true },
  { command: "allow-devices add", argv: ["allow-devices", "add", CVM_ID, HEX64, "--private-key", `0x${"11".repeat(32)}`, "--json"], onchain: true },
  { command: "allow-devices remove", argv: ["allow-devices", "remove", CVM_ID, HEX64, "--private-key", `0x${"11".repeat(32)}`, "--json"], onchain: true },
  { command: "allow-devices allow-any", argv: ["allow-devices", "allow-any", CVM_ID, "--enable", "--private-key", `0x${"11".repeat(32)}`, "--json"], onchain: true },
  { command: "allow-devices disallow-any", argv: ["allow-devices", "disallow-any", CVM_ID, "--private-key", `0x${"11".repeat(32)}`, "--json"], onchain: true },
  { command: "allow-devices toggle-allow-any", argv: ["allow-devices", "toggle-allow-any", CVM_ID, "--private-key", `0x${"11".repeat(32)}`, "--json"], onchain: true },
];

async function run(spec) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "phala-cli-evidence-"));
  for (const [name, text] of Object.entries(spec.files ?? {})) fs.writeFileSync(path.join(work, name), text);
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    PHALA_CLOUD_DIR: path.join(work, ".phala-cloud"),
    PHALA_CLOUD_API_PREFIX: `${ORIGIN}/api/v1`,
    PHALA_DISABLE_UPDATE_CHECK: "1",
    CI: "1",
    NO_COLOR: "1",
    TERM: "dumb",
  };
  if (!spec.noKey) env.PHALA_CLOUD_API_KEY = "sentinel-api-key";
  recorded = [];
  currentSpec = spec;
  ONCHAIN = !!spec.onchain;
  const child = spawn(process.execPath, ["--import", hookPath, cliBin, ...spec.argv], {
    cwd: work,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const timeout = spec.timeout ?? 15000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
  const code = await new Promise((resolve) => child.on("close", (c, signal) => resolve(signal ? signal : c)));
  clearTimeout(timer);
  currentSpec = null;
  ONCHAIN = false;
  fs.rmSync(work, { recursive: true, force: true });
  const requests = recorded;
  recorded = [];
  return { code, output, requests };
}

const commands = [];
let logQueries = [];
// EVIDENCE_ONLY="cmd,cmd" runs only those (for debugging; the snapshot needs all).
const selected = RUNS.filter((r) => !process.env.EVIDENCE_ONLY || process.env.EVIDENCE_ONLY.split(",").includes(r.command));
for (const spec of selected) {
  const { code, output, requests } = await run(spec);
  if (DEBUG) {
    console.error(`--- ${spec.command}: exit ${code}, ${requests.length} requests`);
    console.error(output.split("\n").slice(0, 12).join("\n"));
  }
  const calls = [];
  for (const r of requests) {
    if (r.url.pathname.startsWith("/logs/")) {
      logQueries.push({ command: spec.command, endpoint: r.url.pathname.slice("/logs/".length), query: [...r.url.searchParams.keys()] });
      continue;
    }
    if (!r.url.pathname.startsWith("/api/v1/")) {
      calls.push({ method: r.method, path: `(not the API) ${r.url.pathname}`, sent_version: null, query: [], body: null, sdk_method: null, found_by: "run" });
      continue;
    }
    const call = {
      method: r.method,
      path: template(r.url.pathname.slice("/api/v1".length)),
      sent_version: r.headers["x-phala-version"] ?? null,
      query: [...new Set(r.url.searchParams.keys())].sort(),
      body: describeBody(r),
    };
    const who = sender(r.stack);
    if (who === null) throw new Error(`no stack for ${spec.command} ${r.method} ${r.url.pathname}`);
    call.sdk_method = who === "sdk" ? sdkMethodFor(call) : null;
    if (who === "sdk" && !call.sdk_method) throw new Error(`the bundled SDK sent ${r.method} ${call.path}, which no SDK action sends`);
    call.found_by = "run";
    if (!calls.some((c) => JSON.stringify(c) === JSON.stringify(call))) calls.push(call);
  }
  commands.push({ command: spec.command, calls, exit: code });
}
server.close();
fs.rmSync(hookPath, { force: true });

// ---------------------------------------------------------------------------
// Read from the bundled code (node_modules/phala/dist/index.js), not run.
//
// Calls a run cannot reach: they come after an on-chain transaction, and the
// fetch hook refuses the chain's JSON-RPC request before it.
const SOURCE_CALLS = {
  "deploy --kms base": {
    note:
      "after POST /cvms/provision answers without app_id, the CLI deploys the app's auth contract through the KMS contract over JSON-RPC (refused here), then asks the new app's env encryption key and commits the provision (read from the code)",
    calls: [
      { method: "GET", path: "/kms/{kms_id}/pubkey/{app_id}", sent_version: "2025-10-28", query: [], body: null, sdk_method: "getAppEnvEncryptPubKey" },
      {
        method: "POST",
        path: "/cvms",
        sent_version: "2025-10-28",
        query: [],
        body: ["app_id", "compose_hash", "contract_address", "deployer_address", "encrypted_env", "kms_id"],
        sdk_method: "commitCvmProvision",
      },
    ],
  },
  "envs update (on-chain KMS)": {
    note:
      "after PATCH /cvms/{cvm_id}/envs answers HTTP 465 (compose hash not registered), the CLI registers the compose hash on the app contract over JSON-RPC (refused here), then sends the update again with the proof (read from the code)",
    calls: [
      {
        method: "PATCH",
        path: "/cvms/{cvm_id}/envs",
        sent_version: "2026-01-21",
        query: [],
        body: ["compose_hash", "encrypted_env", "env_keys", "transaction_hash"],
        sdk_method: "updateCvmEnvs",
      },
    ],
  },
};
// Notes on runs that end in on-chain work or that need one.
const NOTES = {
  "allow-devices list": "then reads the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  "allow-devices add": "then sends a transaction to the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  "allow-devices remove": "then sends a transaction to the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  "allow-devices allow-any": "then sends a transaction to the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  "allow-devices disallow-any": "then sends a transaction to the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  "allow-devices toggle-allow-any": "then reads and writes the app's DstackApp contract over JSON-RPC (refused here); no further API request in the code",
  api: "generic: sends the method and path it is given (here GET /cvms/paginated) through the SDK client",
  "cvms create": "deprecated; the CLI's own requests (legacy endpoints), not SDK actions",
  "cvms upgrade": "deprecated; the CLI's own request to the legacy PUT /cvms/{cvm_id}/compose",
  "cvms replicate --prepare-only": "POST /cvms/{cvm_id}/replicas answered HTTP 465 with a commit token (the prepare-only flow)",
  "instances add --prepare-only": "POST /apps/{app_id}/instances answered HTTP 465 with a commit token (the prepare-only flow)",
  "deploy (update) --prepare-only": "PATCH /cvms/{cvm_id} sent with X-Prepare-Only: true, answered HTTP 465 with a commit token",
};
// Commands that send no API request, read from the code and not run here
// (they download, build or touch things outside the API).
const NO_API = {
  completion: "prints a shell completion script",
  "config get": "local CLI state",
  "config set": "local CLI state",
  "docker build": "runs docker",
  "docker generate": "writes a compose file",
  "docker login": "Docker Hub credentials, stored locally",
  "docker push": "runs docker",
  "docker run": "runs docker compose",
  "self update": "asks the npm registry and runs a package manager",
  "simulator start": "downloads and runs the dstack TEE simulator from GitHub releases",
  "simulator stop": "stops the local simulator",
  switch: "local auth profiles",
};

for (const c of commands) {
  const extra = SOURCE_CALLS[c.command];
  if (extra) {
    for (const call of extra.calls) c.calls.push({ ...call, found_by: "source" });
    c.note = extra.note;
  } else if (NOTES[c.command]) c.note = NOTES[c.command];
  // Requests of one command in a fixed order (some are sent concurrently).
  const key = (k) => `${k.found_by === "run" ? 0 : 1} ${k.path} ${k.method} ${JSON.stringify(k)}`;
  c.calls.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (c.exit !== 0 && !extra && !NOTES[c.command]) throw new Error(`${c.command} failed (exit ${c.exit}) and says nothing about it`);
  delete c.exit;
}
for (const [command, reason] of Object.entries(NO_API)) {
  commands.push({ command, calls: [], found_by: "source", note: `no API request: ${reason}` });
}
commands.sort((a, b) => (a.command < b.command ? -1 : a.command > b.command ? 1 : 0));

// The log endpoints: URLs from API answers, with the flags the CLI adds.
const LOG_URL_FROM = {
  container: "containers[].log_endpoint in the answer of GET /cvms/{cvm_id}/composition",
  syslog: "syslog_endpoint in the answer of GET /cvms/{cvm_id} (asked with X-Phala-Version 2025-10-28), plus &ch=serial|stdout|stderr",
};
const byCommand = [...new Map(logQueries.map((q) => [JSON.stringify(q), q])).values()]
  .map((q) => ({
    command: q.command,
    endpoint: q.endpoint,
    url_from: LOG_URL_FROM[q.endpoint],
    // "token" is the fake log URL's own query, not added by the CLI.
    query: q.query.filter((k) => k !== "token"),
  }))
  .sort((a, b) => (a.command < b.command ? -1 : a.command > b.command ? 1 : 0));
const logEndpoints = {
  found_by: "run",
  query_flags: [...new Set(byCommand.flatMap((q) => q.query))].sort(),
  by_command: byCommand,
  flag_values:
    "since=<RFC3339 or relative, URI-encoded> until=<same> tail=<n> and lines=<n> (both, same value); follow, text, bare, timestamps, ansi are bare flags (every log command sends ansi); ch=serial|stdout|stderr on the syslog URL",
  formats:
    "read as text. Container logs: a body that starts with '{' is NDJSON, one object per line {channel: 'stdout'|'stderr', message}, message base64-decoded when it looks like base64 (other lines are kept as plain stdout text); any other body is plain text. Following streams the same, NDJSON or raw decided by the first chunk. Syslog (serial, CVM stdout/stderr): plain text, printed as it comes",
  formats_found_by: "source",
};

const snapshot = {
  format: 1,
  cli: {
    name: "phala",
    registry: "npm",
    version: cliPkg.version,
    sdk: `@phala/cloud@${pkg("@phala/cloud").version}`,
    sdk_dependency: cliPkg.dependencies["@phala/cloud"],
    sdk_bundled: "dist/index.js bundles the SDK's code; the requests it sends are matched to the SDK snapshot's actions",
  },
  extracted_with: {
    node: process.version,
    sdk_snapshot: "xtask/evidence/sdk-typescript.json",
    script: "scripts/evidence/extract_phala_cli.mjs",
  },
  commands,
  log_endpoints: logEndpoints,
};
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}
fs.writeFileSync(out, `${JSON.stringify(sortKeys(snapshot), null, 2)}\n`);
const calls = commands.flatMap((c) => c.calls);
console.log(
  `${out}: ${commands.length} commands, ${calls.length} calls ` +
    `(${calls.filter((c) => c.found_by === "run").length} run, ${calls.filter((c) => c.found_by === "source").length} from source)`,
);
