// Evidence snapshot of Phala's official TypeScript SDK (npm @phala/cloud):
// for every SDK action that sends an HTTP request to the Phala Cloud API, in
// every API version the SDK supports, the request it sends (method, path
// template, X-Phala-Version, query keys, JSON body keys) and the zod schema it
// validates the answer with, converted to JSON Schema.
//
// It runs the SDK's own code: a client made by the SDK's createClient points at
// a recording HTTP server on 127.0.0.1 (node's http module); every exported
// action is called with sentinel arguments (every optional field filled, so
// the query and body list every key the action can send); the sentinels in
// the recorded paths become {parameter} names. The response schema is found
// by running too: zod's parse is watched, and the schema whose parse() gets
// the very value the client method returned for the HTTP answer is the
// response schema. Its name is the SDK export that is that object, or, for
// the few schemas the SDK does not export, the name in NAMES_BY_HAND below.
//
// Run by scripts/evidence/typescript-sdk.sh (which installs the pinned
// packages from the npm registry and copies this file next to them); it
// needs the registry, so it runs only when asked. CI compares the committed
// snapshot offline.
//
//   node extract_typescript_sdk.mjs OUTPUT.json
import fs from "node:fs";
import http from "node:http";
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";

const out = process.argv[2];
if (!out) throw new Error("usage: node extract_typescript_sdk.mjs OUTPUT.json");
const pkgVersion = (name) =>
  JSON.parse(fs.readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;

// ---------------------------------------------------------------------------
// Sentinels. A path segment equal to one of these values (or to the form the
// SDK turns it into) becomes {name} in the path template.
const CVM_ID = "cvm_SENTINELcvm";
const APP_ID = "5e471e10".repeat(5); // 40 hex digits, as the API's app ids
const KMS_ID = "kms_SENTINELkms";
const CHAIN = "SENTINELchain";
const FAMILY = "SENTINELfamily";
const KEY_ID = "sshkey_SENTINELkey";
const REVISION_ID = "rev_SENTINELrev";
const TEAM_SLUG = "SENTINELteam";
const VM_UUID = "5e471e10-0000-4000-8000-5e471e100000";
const SENTINELS = new Map([
  [CVM_ID, "cvm_id"],
  [APP_ID, "app_id"],
  [KMS_ID, "kms_id"],
  [CHAIN, "chain"],
  [FAMILY, "family"],
  [KEY_ID, "key_id"],
  [REVISION_ID, "revision_id"],
  [TEAM_SLUG, "team_slug"],
]);

function template(pathname) {
  return pathname
    .split("/")
    .map((seg) => {
      const value = decodeURIComponent(seg);
      if (SENTINELS.has(value)) return `{${SENTINELS.get(value)}}`;
      if (value.includes("SENTINEL") || value.includes(APP_ID)) {
        throw new Error(`sentinel in an unexpected form in path segment ${value} of ${pathname}`);
      }
      return seg;
    })
    .join("/");
}

// ---------------------------------------------------------------------------
// The actions and the arguments each is called with. Every optional field is
// filled so that the recorded query and body hold every key the action sends.
const compose = {
  allowed_envs: ["SENTINEL_ENV"],
  docker_compose_file: "services: {}\n",
  features: ["kms"],
  name: "sentinel-app",
  manifest_version: 2,
  kms_enabled: true,
  public_logs: true,
  public_sysinfo: true,
  tproxy_enabled: true,
  storage_fs: "ext4",
  pre_launch_script: "#!/bin/sh\n",
  env_pubkey: "00",
  salt: "00",
};
const ARGS = {
  checkAppCvmsIsAllowed: { appId: APP_ID },
  checkAppIsAllowed: { appId: APP_ID, compose_hash: "00", node_id: 1, device_id: "00", chain_id: 8453 },
  checkCvmIsAllowed: { cvmId: CVM_ID, compose_hash: "00", node_id: 1, device_id: "00" },
  commitCvmComposeFileUpdate: {
    id: CVM_ID,
    compose_hash: "00",
    encrypted_env: "00",
    env_keys: ["SENTINEL_ENV"],
    update_env_vars: true,
  },
  commitCvmProvision: {
    encrypted_env: "00",
    app_id: APP_ID,
    compose_hash: "00",
    kms_id: KMS_ID,
    contract_address: "0x00",
    deployer_address: "0x00",
    env_keys: ["SENTINEL_ENV"],
  },
  commitCvmUpdate: { id: CVM_ID, token: "t", composeHash: "00", transactionHash: "0x00" },
  confirmCvmPatch: { id: CVM_ID, composeHash: "00", transactionHash: "0x00" },
  createAppInstance: {
    appId: APP_ID,
    node_id: 1,
    docker_compose_file: "services: {}\n",
    pre_launch_script: "#!/bin/sh\n",
    encrypted_env: "00",
    compose_hash: "00",
    token: "t",
    transaction_hash: "0x00",
  },
  createSshKey: { name: "sentinel-key", public_key: "ssh-ed25519 AAAA sentinel" },
  deleteCvm: { id: CVM_ID },
  deleteSshKey: { keyId: KEY_ID },
  getAppAttestation: { appId: APP_ID },
  getAppCvms: { appId: APP_ID },
  getAppDeviceAllowlist: { appId: APP_ID },
  getAppEnvEncryptPubKey: { kms: KMS_ID, app_id: APP_ID },
  getAppFilterOptions: undefined,
  getAppInfo: { appId: APP_ID },
  getAppList: {
    page: 1,
    page_size: 10,
    search: "s",
    status: ["running"],
    listed: true,
    base_image: "b",
    instance_type: "tdx.small",
    kms_slug: "k",
    kms_type: "t",
    node: "n",
    region: "r",
  },
  getAppRevisionDetail: { appId: APP_ID, revisionId: REVISION_ID, rawComposeFile: true },
  getAppRevisions: { appId: APP_ID, page: 1, page_size: 10 },
  getAvailableNodes: undefined,
  getAvailableOsImages: { id: CVM_ID },
  getCurrentUser: undefined,
  getCvmAttestation: { id: CVM_ID },
  getCvmComposeFile: { id: CVM_ID },
  getCvmContainersStats: { id: CVM_ID },
  getCvmDockerCompose: { id: CVM_ID },
  getCvmInfo: { id: CVM_ID },
  getCvmList: { page: 1, page_size: 10, node_id: 1, teepod_id: 1, user_id: "u" },
  getCvmNetwork: { id: CVM_ID },
  getCvmPreLaunchScript: { id: CVM_ID },
  getCvmState: { id: CVM_ID },
  getCvmStats: { id: CVM_ID },
  getCvmStatusBatch: { vmUuids: [VM_UUID] },
  getCvmUserConfig: { id: CVM_ID },
  getKmsInfo: { kms_id: KMS_ID },
  getKmsList: { page: 1, page_size: 10, is_onchain: true },
  getKmsOnChainDetail: { chain: CHAIN },
  getOsImages: { page: 1, page_size: 10, is_dev: true },
  getWorkspace: TEAM_SLUG, // the action takes the slug itself
  getWorkspaceNodes: { teamSlug: TEAM_SLUG, page: 1, pageSize: 10 },
  getWorkspaceQuotas: { teamSlug: TEAM_SLUG },
  importGithubProfileSshKeys: { github_username: "sentinel" },
  listAllInstanceTypeFamilies: undefined,
  listFamilyInstanceTypes: { family: FAMILY },
  listSshKeys: undefined,
  listWorkspaces: { cursor: "c", limit: 10 },
  nextAppIds: { counts: 2 },
  patchCvm: {
    id: CVM_ID,
    docker_compose_file: "services: {}\n",
    pre_launch_script: "#!/bin/sh\n",
    allowed_envs: ["SENTINEL_ENV"],
    public_logs: true,
    public_sysinfo: true,
    public_tcbinfo: true,
    encrypted_env: "00",
    user_config: "{}",
    gpus: { count: 1, product_name: "H200" },
    vcpu: 1,
    memory: 1024,
    disk_size: 20,
    image: "dstack-0.5.0",
    shutdown_timeout: 10,
    allow_force_stop: true,
    prepareOnly: true, // sent as the X-Prepare-Only header, not in the body
  },
  provisionCvm: {
    node_id: 1, // sent as teepod_id (the SDK renames it)
    region: "r",
    name: "sentinel-app",
    instance_type: "tdx.small",
    image: "dstack-0.5.0",
    vcpu: 1,
    memory: 1024,
    disk_size: 20,
    compose_file: {
      allowed_envs: ["SENTINEL_ENV"],
      pre_launch_script: "#!/bin/sh\n",
      docker_compose_file: "services: {}\n",
      name: "sentinel-app",
      kms_enabled: true,
      public_logs: true,
      public_sysinfo: true,
      gateway_enabled: true,
      storage_fs: "ext4",
    },
    listed: true,
    kms_id: KMS_ID,
    kms: "PHALA",
    kms_contract: "0x00",
    env_keys: ["SENTINEL_ENV"],
    nonce: 1,
    app_id: APP_ID,
  },
  provisionCvmComposeFileUpdate: { id: CVM_ID, app_compose: compose, update_env_vars: true },
  refreshCvmInstanceId: { id: CVM_ID, overwrite: true, dry_run: true },
  refreshCvmInstanceIds: {
    cvm_ids: [CVM_ID],
    running_only: true,
    missing_only: true,
    overwrite: true,
    limit: 10,
    dry_run: true,
  },
  replicateCvm: { id: CVM_ID, node_id: 1 },
  restartCvm: { id: CVM_ID, force: true },
  shutdownCvm: { id: CVM_ID },
  startCvm: { id: CVM_ID },
  stopCvm: { id: CVM_ID },
  syncGithubSshKeys: undefined,
  updateCvmEnvs: {
    id: CVM_ID,
    encrypted_env: "00",
    env_keys: ["SENTINEL_ENV"],
    compose_hash: "00",
    transaction_hash: "0x00",
  },
  updateCvmResources: { id: CVM_ID, vcpu: 1, memory: 1024, disk_size: 20, instance_type: "tdx.small", allow_restart: true },
  updateCvmVisibility: { id: CVM_ID, public_sysinfo: true, public_logs: true, public_tcbinfo: true },
  updateDockerCompose: { id: CVM_ID, docker_compose_file: "services: {}\n", compose_hash: "00", transaction_hash: "0x00" },
  updateOsImage: { id: CVM_ID, os_image_name: "dstack-0.5.0" },
  updatePreLaunchScript: { id: CVM_ID, pre_launch_script: "#!/bin/sh\n", compose_hash: "00", transaction_hash: "0x00" },
  // No safe* twin, so listed by hand as an action: an SSE watch of the state.
  watchCvmState: { id: CVM_ID, target: "running", interval: 5, timeout: 10, maxRetries: 1, retryDelay: 0 },
};

// Exported actions that send nothing to the Phala Cloud API (read from
// dist/index.mjs, src/actions/blockchains/*): they call an Ethereum JSON-RPC
// endpoint through viem (contract reads and transactions), take no Phala
// client, and are recorded in "skipped".
const SKIPPED = {
  addComposeHash: "on-chain: sends a transaction to the app's DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  addDevice: "on-chain: sends a transaction to the app's DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  checkComposeHashAllowed: "on-chain: reads the DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  checkDeviceAllowed: "on-chain: reads the DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  checkOnChainPrerequisites: "on-chain: reads chain id and balance through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  deployAppAuth: "on-chain: deploys the app's auth contract through the KMS contract with viem (Ethereum JSON-RPC), no Phala Cloud API request",
  getAllowedDevices: "on-chain: reads the DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  removeDevice: "on-chain: sends a transaction to the app's DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
  setAllowAnyDevice: "on-chain: sends a transaction to the app's DstackApp contract through viem (Ethereum JSON-RPC), no Phala Cloud API request",
};

// Exported functions that pair with a safe* twin but are not actions.
const NOT_ACTIONS = new Set(["validateActionParameters"]);

// ---------------------------------------------------------------------------
// NAMES BY HAND: response schemas that the run captures (their parse() gets
// the HTTP answer) but that the SDK does not export, so no export name is that
// object. The name is the one the SDK source gives it (dist/index.mjs); the
// check makes sure the captured object is the one meant. Calls named this way
// have "response_found_by": "table".
const NAMES_BY_HAND = [
  {
    // src/actions/apps/get_app_device_allowlist.ts: DeviceAllowlistResponseSchema (not exported)
    actions: ["getAppDeviceAllowlist"],
    name: "DeviceAllowlistResponseSchema",
    check: (s) =>
      s._def.typeName === "ZodObject" &&
      Object.keys(s.shape).sort().join(",") ===
        "allow_any_device,app_contract_address,chain_id,devices,is_onchain_kms",
  },
  {
    // src/actions/apps/get_app_cvms.ts: z.array(CvmInfoV20251028Schema), built at each call
    actions: ["getAppCvms"],
    name: "z.array(CvmInfoV20251028Schema)",
    check: (s) => s._def.typeName === "ZodArray" && s.element === sdk.CvmInfoV20251028Schema,
  },
  {
    // src/actions/apps/get_app_cvms.ts: z.array(CvmInfoV20260121Schema), built at each call
    actions: ["getAppCvms"],
    name: "z.array(CvmInfoV20260121Schema)",
    check: (s) => s._def.typeName === "ZodArray" && s.element === sdk.CvmInfoV20260121Schema,
  },
  {
    // src/actions/cvms/get_cvm_compose_file.ts: GetCvmComposeFileResultSchema =
    // LooseAppComposeSchema.transform(withComposeMethods) (not exported)
    actions: ["getCvmComposeFile"],
    name: "GetCvmComposeFileResultSchema",
    check: (s) => s._def.typeName === "ZodEffects" && s._def.schema === sdk.LooseAppComposeSchema,
  },
  {
    // src/actions/cvms/get_cvm_docker_compose.ts and get_cvm_prelaunch_script.ts:
    // defineAction(z.string(), ...): the answer is text
    actions: ["getCvmDockerCompose", "getCvmPreLaunchScript"],
    name: "z.string()",
    check: (s) => s._def.typeName === "ZodString" && s._def.checks.length === 0,
  },
];

// Actions whose HTTP answer no zod schema sees (read from dist/index.mjs);
// the run must agree: these get "response": null, "response_found_by": "none".
const NO_RESPONSE_SCHEMA = {
  deleteCvm: "answer discarded; the action returns undefined and validates that with z.void()",
  deleteSshKey: "answer discarded; the action returns undefined and validates that with z.void()",
  updateCvmResources: "answer discarded; the action returns undefined and validates that with z.void()",
  updateOsImage: "answer discarded; the action returns undefined and validates that with z.void()",
  patchCvm:
    "the action builds {requiresOnChainHash: false, correlationId: answer.correlation_id} (or, on HTTP 465, an object from the error's details) and validates that with PatchCvmResultSchema, not the answer",
  confirmCvmPatch:
    "the action builds {correlationId: answer.correlation_id} and validates that with ConfirmCvmPatchResultSchema (not exported), not the answer",
  commitCvmUpdate:
    "the action builds {correlationId: answer.correlation_id, status: answer.status} and validates that with CommitCvmUpdateResultSchema (not exported), not the answer",
  watchCvmState: "server-sent events read with JSON.parse; no zod schema",
};

// ---------------------------------------------------------------------------
// Watching zod: every parse/safeParse call, with the schema and the input.
// zod v3 binds parse and safeParse to each schema when it is built, so the
// prototype is patched before the SDK (and its schemas) are loaded.
let parses = null;
for (const method of ["parse", "safeParse"]) {
  const original = z.ZodType.prototype[method];
  z.ZodType.prototype[method] = function (data, params) {
    if (parses) parses.push({ schema: this, data });
    return original.call(this, data, params);
  };
}
const sdk = await import("@phala/cloud");

// The recording server. It answers {} to JSON requests (any answer does: the
// response schema is found from the parse call, whether it passes or not) and
// one "state" and one "complete" event to the server-sent-events watch.
let requests = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    requests.push({ method: req.method, url: req.url, headers: req.headers, raw });
    if ((req.headers.accept || "").includes("text/event-stream")) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('event: state\ndata: {"status":"running"}\n\nevent: complete\ndata: {}\n\n');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}/api/v1`;

function describeBody(r) {
  if (r.raw.length === 0) return null;
  const type = (r.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
  if (type === "multipart/form-data") return "multipart";
  if (type === "application/json" || type === "") {
    const value = JSON.parse(r.raw.toString("utf8"));
    if (value && typeof value === "object" && !Array.isArray(value)) return Object.keys(value).sort();
    throw new Error(`JSON body that is not an object: ${r.raw}`);
  }
  return type; // a non-JSON body, named by its media type (text/yaml, text/plain)
}

function describeRequest(r) {
  const url = new URL(r.url, "http://x");
  if (!url.pathname.startsWith("/api/v1/")) throw new Error(`request outside the base URL: ${r.url}`);
  return {
    method: r.method,
    path: template(url.pathname.slice("/api/v1".length)),
    sent_version: r.headers["x-phala-version"] ?? null,
    query: [...new Set(url.searchParams.keys())].sort(),
    body: describeBody(r),
  };
}

// Export names of every zod schema the SDK exports, by object.
const exportNames = new Map();
for (const [name, value] of Object.entries(sdk)) {
  if (value instanceof z.ZodType) {
    if (!exportNames.has(value)) exportNames.set(value, []);
    exportNames.get(value).push(name);
  }
}

// Every exported function with a safe* twin is an action; all must be
// covered (called, skipped, or known not to be an action) so that a new SDK
// version with new actions makes this script fail rather than go silent.
const fns = Object.keys(sdk).filter((k) => typeof sdk[k] === "function");
const actions = fns
  .filter((k) => !k.startsWith("safe") && fns.includes(`safe${k[0].toUpperCase()}${k.slice(1)}`))
  .filter((k) => !NOT_ACTIONS.has(k));
actions.push("watchCvmState");
for (const name of actions) {
  if (!(name in ARGS) && !(name in SKIPPED)) throw new Error(`SDK action ${name} is neither called nor skipped`);
}
for (const name of [...Object.keys(ARGS), ...Object.keys(SKIPPED)]) {
  if (!actions.includes(name)) throw new Error(`${name} is listed here but is not an SDK action`);
}

const versions = [...sdk.SUPPORTED_API_VERSIONS];
const defaultVersion = sdk.createClient({ apiKey: "k", baseURL: base }).config.version;
const calls = [];
const schemas = new Map(); // name -> schema object
const problems = [];

for (const version of versions) {
  const client = sdk.createClient({ apiKey: "sentinel-api-key", baseURL: base, version });
  // What the client's request methods return: the HTTP answers as the action gets them.
  let answers = [];
  for (const method of ["get", "post", "put", "patch", "delete", "request", "requestFull"]) {
    const original = client[method];
    client[method] = async function (...args) {
      const value = await original.apply(this, args);
      answers.push(value);
      return value;
    };
  }
  for (const name of Object.keys(ARGS).sort()) {
    requests = [];
    answers = [];
    parses = [];
    let error = null;
    try {
      await sdk[name](client, ARGS[name]);
    } catch (e) {
      error = e;
    }
    if (process.env.EVIDENCE_DEBUG) console.error(name, version, requests.length, error ? String(error.message ?? error).slice(0, 100) : "ok");
    const seen = parses;
    parses = null;
    if (requests.length === 0) {
      problems.push(`${name} (${version}) sent no request: ${error?.message ?? error}`);
      continue;
    }
    // The response schema: parse() given exactly a value the client returned.
    const hits = [...new Set(seen.filter((p) => answers.some((a) => a === p.data && a !== undefined)).map((p) => p.schema))];
    let response = null;
    let foundBy = "none";
    if (hits.length > 1) problems.push(`${name} (${version}): ${hits.length} schemas parse the answer`);
    if (hits.length === 1) {
      const schema = hits[0];
      // Some schemas are exported under two names (an old alias and the
      // versioned name, e.g. CurrentUserSchema and CurrentUserV20251028Schema):
      // the versioned name is taken.
      let names = exportNames.get(schema);
      if (names && names.length > 1) {
        const versioned = names.filter((n) => /V20\d{6}Schema$/.test(n));
        if (versioned.length === 1) names = versioned;
      }
      if (names && names.length === 1) {
        response = names[0];
        foundBy = "code";
      } else if (names) {
        problems.push(`${name} (${version}): the response schema has several export names ${names.join(", ")}`);
      } else {
        const entry = NAMES_BY_HAND.find((e) => e.actions.includes(name) && e.check(schema));
        if (!entry) problems.push(`${name} (${version}): the response schema is not exported and not in NAMES_BY_HAND`);
        else {
          response = entry.name;
          foundBy = "table";
        }
      }
      if (response) {
        if (schemas.has(response) && schemas.get(response) !== schema && foundBy === "code") {
          problems.push(`two objects named ${response}`);
        }
        if (!schemas.has(response)) schemas.set(response, schema);
      }
    }
    if ((response === null) !== name in NO_RESPONSE_SCHEMA) {
      problems.push(`${name} (${version}): response schema ${response}, but NO_RESPONSE_SCHEMA says ${name in NO_RESPONSE_SCHEMA}`);
    }
    const distinct = new Map();
    for (const r of requests) {
      const d = describeRequest(r);
      distinct.set(JSON.stringify(d), d);
    }
    for (const d of distinct.values()) {
      calls.push({
        sdk_method: name,
        method: d.method,
        path: d.path,
        api_version: version,
        sent_version: d.sent_version,
        query: d.query,
        body: d.body,
        response,
        response_found_by: foundBy,
      });
    }
  }
}
server.close();
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}

calls.sort((a, b) => {
  for (const k of ["path", "method", "sdk_method", "api_version"]) {
    if (a[k] < b[k]) return -1;
    if (a[k] > b[k]) return 1;
  }
  return 0;
});

// zod v3 schemas: zod-to-json-schema. The options that choose between what a
// schema accepts and what it outputs are set to the accepting side: the input
// of transforms (effectStrategy) and pipes (pipeStrategy), and objects that
// strip unknown keys (zod's default) allow them (removeAdditionalStrategy
// "strict": a stripping object accepts extra keys; .strict() ones still
// reject them, .passthrough() ones allow them). Everything else as the
// converter gives it.
const converterOptions = { effectStrategy: "input", pipeStrategy: "input", removeAdditionalStrategy: "strict" };
const jsonSchemas = {};
for (const [name, schema] of schemas) {
  try {
    jsonSchemas[name] = zodToJsonSchema(schema, converterOptions);
  } catch (e) {
    jsonSchemas[name] = { "x-unrepresentable": String(e?.message ?? e) };
  }
}

const snapshot = {
  format: 1,
  sdk: { name: "@phala/cloud", language: "typescript", registry: "npm", version: pkgVersion("@phala/cloud") },
  extracted_with: {
    node: process.version,
    zod: pkgVersion("zod"),
    converter: `zod-to-json-schema@${pkgVersion("zod-to-json-schema")}`,
    converter_options: converterOptions,
    script: "scripts/evidence/extract_typescript_sdk.mjs",
  },
  versions: { supported: versions, default: defaultVersion },
  calls,
  schemas: jsonSchemas,
  skipped: Object.keys(SKIPPED)
    .sort()
    .map((name) => ({ sdk_method: name, reason: SKIPPED[name] })),
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
console.log(
  `${out}: ${actions.length - Object.keys(SKIPPED).length} actions called, ${calls.length} calls, ` +
    `${schemas.size} schemas, ${Object.keys(SKIPPED).length} skipped`,
);
