// Phala's official TypeScript SDK (@phala/cloud) as a client of our
// simulator: every action that sends a Phala Cloud API request (the actions
// of xtask/evidence/sdk-typescript.json; its `skipped` list names the
// on-chain ones, which talk to a chain through viem and send none), in both
// API versions the SDK supports, must pass the SDK's own (zod) validation.
// Writes are real: an SSH key created and deleted, CVMs provisioned and
// committed with an env sealed by the SDK's encryptEnvVars, updated,
// replicated and deleted. A call that must fail is written with `fails`,
// with the status it must get and why.
// Run by scripts/official-sdk-check.sh; PHALA_SIM_URL and PHALA_SIM_KEY set.
import { generateKeyPairSync } from "node:crypto";
import * as sdk from "@phala/cloud";

const base = `${process.env.PHALA_SIM_URL}/api/v1`;
const apiKey = process.env.PHALA_SIM_KEY;
let failures = 0;
let passed = 0;
let disagreed = 0;
let unserved = 0;

// `${version} ${action}` where @phala/cloud expects what the published
// document or the Python SDK contradicts; its validation error there is
// counted apart. At its two versions this SDK is otherwise the evidence.
const DISAGREEMENTS = {
  // The timestamped (v1) KMS signature, which dstack's reference and our
  // client check (a legacy one can be replayed); Python 0.2.0 reads this
  // answer only at 2026-05-22, where the timestamp is there.
  "2025-10-28 getAppEnvEncryptPubKey":
    "TypeScript's strict schema has no `timestamp`; the simulator signs the v1 (timestamped) form in every version",
  "2026-01-21 getAppEnvEncryptPubKey":
    "TypeScript's strict schema has no `timestamp`; the simulator signs the v1 (timestamped) form in every version",
  // The overlay answers as GET /cvms/{cvm_id} does at that version
  // (CVMInfoDetail from 2026-01-21); TypeScript reads the 2025-10-28 detail
  // at every version (openapi.overlay.json, update_cvm_visibility).
  "2026-01-21 updateCvmVisibility":
    "TypeScript reads the 2025-10-28 detail at every version; the overlay answers this version's detail",
};

// The SDK's complaint: zod issues one a line (the first six), or the error.
function describe(e) {
  if (!e?.issues) return `${e?.constructor?.name ?? "Error"}${e?.status ? ` ${e.status}` : ""}: ${e?.message ?? e}`;
  const lines = e.issues.map((i) => `${i.path.join(".")}: ${i.message}${i.received ? ` (got ${i.received})` : ""}`);
  const more = lines.length > 6 ? ` ... (${lines.length - 6} more)` : "";
  return `${lines.slice(0, 6).join("\n  ")}${more}`;
}

async function expectValid(name, call) {
  try {
    const result = await call();
    passed += 1;
    return result;
  } catch (e) {
    const key = name.split(" ").slice(0, 1).join(" ");
    const version = name.match(/\((\d{4}-\d{2}-\d{2})\)$/)?.[1];
    if (e?.issues && DISAGREEMENTS[`${version} ${key}`]) {
      disagreed += 1;
      console.log(`disagreement ${name}: ${DISAGREEMENTS[`${version} ${key}`]}`);
      return undefined;
    }
    failures += 1;
    if (e?.status === 501) {
      unserved += 1;
      console.error(`FAIL ${name}: 501, the simulator does not serve this operation yet`);
      return undefined;
    }
    console.error(`FAIL ${name}: ${describe(e)}`);
    return undefined;
  }
}

// A call that must be refused with `status` (the SDK's PhalaCloudError).
async function fails(name, call, status, why) {
  try {
    await call();
  } catch (e) {
    if (e?.status === status) {
      passed += 1;
      return;
    }
    failures += 1;
    if (e?.status === 501) {
      unserved += 1;
      console.error(`FAIL ${name}: 501, the simulator does not serve this operation yet`);
      return;
    }
    console.error(`FAIL ${name}: answered ${e?.status ?? "no status"} (${describe(e)}), must be ${status}: ${why}`);
    return;
  }
  failures += 1;
  console.error(`FAIL ${name}: answered, must be refused with ${status}: ${why}`);
}

function expect(name, ok) {
  if (ok) {
    passed += 1;
  } else {
    failures += 1;
    console.error(`FAIL ${name}`);
  }
}

async function raw(path, version = "2026-01-21") {
  const r = await fetch(`${base}${path}`, { headers: { "X-API-Key": apiKey, "X-Phala-Version": version } });
  return r.json();
}

// The fleet as the v2026 list gives it (hashed ids, statuses).
const fleet = () => raw("/cvms");
const taken = new Set();
// A CVM in `status` with nothing in progress that no check used yet.
async function idle(status) {
  const cvm = (await fleet()).find((c) => c.status === status && !c.in_progress && !taken.has(c.id));
  if (!cvm) throw new Error(`the simulated fleet has no idle ${status} CVM left`);
  taken.add(cvm.id);
  return cvm;
}

// Waits until the CVM has nothing in progress (an update restarts it).
async function settle(id, seconds = 90) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const cvm = await raw(`/cvms/${id}`);
    if (cvm && !cvm.in_progress && ["running", "stopped"].includes(cvm.status)) return cvm;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(`note: ${id} still busy after ${seconds}s`);
  return undefined;
}

const COMPOSE = `services:
  web:
    image: nginx:1.27
    ports:
      - "80:80"
    environment:
      - GREETING=\${GREETING}
`;
const TX_HASH = `0x${"cd".repeat(32)}`;
// A fresh ed25519 key in OpenSSH form: "ssh-ed25519", then the key, each length-prefixed.
const SSH_KEY = (() => {
  const x = Buffer.from(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x, "base64url");
  const part = (b) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([part(Buffer.from("ssh-ed25519")), part(x)]).toString("base64")} sdk-check`;
})();const seal = (env, pubkey) =>
  sdk.encryptEnvVars(Object.entries(env).map(([key, value]) => ({ key, value })), pubkey);

for (const version of ["2025-10-28", "2026-01-21"]) {
  const client = sdk.createClient({ apiKey, baseURL: base, version });
  const tag = (s) => `${s} (${version})`;
  const short = version.replaceAll("-", "");
  const everyone = await fleet();
  const running = await idle("running");
  const stopped = await idle("stopped");

  // --- The account and the catalogue.
  await expectValid(tag("getCurrentUser"), () => sdk.getCurrentUser(client));
  const workspaces = await expectValid(tag("listWorkspaces"), () => sdk.listWorkspaces(client, { limit: 10 }));
  const slug = workspaces?.data?.[0]?.slug ?? "main-team";
  const team = await expectValid(tag("getWorkspace"), () => sdk.getWorkspace(client, slug));
  if (team) expect(tag("the workspace is the one asked for"), team.slug === slug);
  await expectValid(tag("getWorkspaceNodes"), () => sdk.getWorkspaceNodes(client, { teamSlug: slug, page: 1, pageSize: 10 }));
  await expectValid(tag("getWorkspaceQuotas"), () => sdk.getWorkspaceQuotas(client, { teamSlug: slug }));
  const nodes = await expectValid(tag("getAvailableNodes"), () => sdk.getAvailableNodes(client));
  const nodeIds = (nodes?.nodes ?? []).map((n) => n.teepod_id);
  expect(tag("nodes are available"), nodeIds.length > 0);
  const nodeId = nodeIds.at(-1);
  const families = await expectValid(tag("listAllInstanceTypeFamilies"), () => sdk.listAllInstanceTypeFamilies(client));
  if (families) expect(tag("the instance types have a cpu family"), families.result.some((f) => f.name === "cpu"));
  const cpu = await expectValid(tag("listFamilyInstanceTypes"), () => sdk.listFamilyInstanceTypes(client, { family: "cpu" }));
  if (cpu) expect(tag("the cpu family lists tdx.small"), cpu.items.some((t) => t.id === "tdx.small"));
  const images = await expectValid(tag("getOsImages"), () => sdk.getOsImages(client, { page: 1, page_size: 10 }));
  await expectValid(tag("getOsImages, dev only"), () => sdk.getOsImages(client, { is_dev: true }));
  const kmsList = await expectValid(tag("getKmsList"), () => sdk.getKmsList(client, { page: 1, page_size: 10 }));
  const kmsId = kmsList?.items?.[0]?.id ?? "kms_phalaprod";
  const kms = await expectValid(tag("getKmsInfo"), () => sdk.getKmsInfo(client, { kms_id: kmsId }));
  if (kms) expect(tag("getKmsInfo answers the KMS asked for"), kms.id === kmsId);
  const pubkey = await expectValid(tag("getAppEnvEncryptPubKey"), () =>
    sdk.getAppEnvEncryptPubKey(client, { kms: kmsId, app_id: running.app_id }),
  );
  if (pubkey) {
    expect(tag("the app's env key is the one its CVMs name"), pubkey.public_key === running.kms_info.encrypted_env_pubkey);
  }
  const ids = await expectValid(tag("nextAppIds"), () => sdk.nextAppIds(client, { counts: 3 }));
  if (ids) expect(tag("nextAppIds answers as many as asked"), ids.app_ids.length === 3);
  await expectValid(tag("getKmsOnChainDetail"), () => sdk.getKmsOnChainDetail(client, { chain: "base" }));

  // --- The CVM list and what one CVM holds.
  await expectValid(tag("getCvmList (paged)"), () => sdk.getCvmList(client, { page: 1, page_size: 100 }));
  await expectValid(tag("getCvmList, a later page"), () => sdk.getCvmList(client, { page: 2, page_size: 7 }));
  const onNode = await expectValid(tag("getCvmList, one node"), () =>
    sdk.getCvmList(client, { node_id: running.node_info.id, page_size: 100 }),
  );
  if (onNode) expect(tag("node_id selects that node's CVMs"), onNode.items.length > 0);
  await expectValid(tag("getCvmInfo"), () => sdk.getCvmInfo(client, { id: running.id }));
  const compose = await expectValid(tag("getCvmDockerCompose"), () => sdk.getCvmDockerCompose(client, { id: running.id }));
  if (compose !== undefined) expect(tag("the docker-compose file is YAML text"), String(compose).includes("services:"));
  await expectValid(tag("getCvmComposeFile"), () => sdk.getCvmComposeFile(client, { id: running.id }));
  await expectValid(tag("getCvmPreLaunchScript"), () => sdk.getCvmPreLaunchScript(client, { id: running.id }));
  const network = await expectValid(tag("getCvmNetwork"), () => sdk.getCvmNetwork(client, { id: running.id }));
  if (network) expect(tag("a running CVM is online"), network.is_online === true);
  await expectValid(tag("getCvmStats"), () => sdk.getCvmStats(client, { id: running.id }));
  await expectValid(tag("getCvmContainersStats"), () => sdk.getCvmContainersStats(client, { id: running.id }));
  await expectValid(tag("getCvmAttestation"), () => sdk.getCvmAttestation(client, { id: running.id }));
  const offered = await expectValid(tag("getAvailableOsImages"), () => sdk.getAvailableOsImages(client, { id: running.id }));
  if (offered) expect(tag("a CVM is offered OS images"), offered.length > 0);
  const config = await expectValid(tag("getCvmUserConfig"), () => sdk.getCvmUserConfig(client, { id: running.id }));
  if (config) expect(tag("the user config names the host"), config.hostname === running.name);
  await expectValid(tag("getCvmState"), () => sdk.getCvmState(client, { id: running.id }));
  await expectValid(tag("getCvmState of a stopped CVM"), () => sdk.getCvmState(client, { id: stopped.id }));
  const statuses = await expectValid(tag("getCvmStatusBatch"), () =>
    sdk.getCvmStatusBatch(client, { vmUuids: everyone.map((c) => c.vm_uuid) }),
  );
  if (statuses) expect(tag("status batch answers every uuid"), Object.keys(statuses).length === everyone.length);

  // --- Apps.
  const appId = running.app_id;
  const apps = await expectValid(tag("getAppList"), () => sdk.getAppList(client, { page: 1, page_size: 50 }));
  if (apps) expect(tag("the app list holds the fleet's apps"), apps.dstack_apps.some((a) => a.app_id === appId));
  await expectValid(tag("getAppList, filtered"), () =>
    sdk.getAppList(client, { status: ["running"], kms_type: "phala", search: "web", page_size: 10 }),
  );
  await expectValid(tag("getAppFilterOptions"), () => sdk.getAppFilterOptions(client));
  const app = await expectValid(tag("getAppInfo"), () => sdk.getAppInfo(client, { appId }));
  if (app) expect(tag("getAppInfo answers the app asked for"), app.app_id === appId);
  await expectValid(tag("getAppCvms"), () => sdk.getAppCvms(client, { appId }));
  await expectValid(tag("getAppAttestation"), () => sdk.getAppAttestation(client, { appId }));
  await expectValid(tag("getAppDeviceAllowlist"), () => sdk.getAppDeviceAllowlist(client, { appId }));
  await expectValid(tag("getAppRevisions"), () => sdk.getAppRevisions(client, { appId, page: 1, page_size: 10 }));

  // --- SSH keys: one created, listed, deleted; GitHub imports.
  const key = await expectValid(tag("createSshKey"), () =>
    sdk.createSshKey(client, { name: `sdk-check-ts-${short}`, public_key: SSH_KEY }),
  );
  const keys = await expectValid(tag("listSshKeys"), () => sdk.listSshKeys(client));
  if (keys && key) expect(tag("the new SSH key is listed"), keys.some((k) => k.id === key.id));
  if (key) {
    await expectValid(tag("deleteSshKey"), () => sdk.deleteSshKey(client, { keyId: key.id }));
    await fails(tag("deleteSshKey, the same key again"), () => sdk.deleteSshKey(client, { keyId: key.id }), 404,
      "a key deleted already is not found");
  }
  await expectValid(tag("importGithubProfileSshKeys"), () =>
    sdk.importGithubProfileSshKeys(client, { github_username: "octocat" }),
  );
  await expectValid(tag("syncGithubSshKeys"), () => sdk.syncGithubSshKeys(client));

  // --- Deploy: provision, seal the env to the app's key, commit.
  const name = `sdk-ts-${short}`;
  const appCompose = {
    name, docker_compose_file: COMPOSE, allowed_envs: ["GREETING"], gateway_enabled: true, kms_enabled: true,
    public_logs: true, public_sysinfo: true,
  };
  const provision = await expectValid(tag("provisionCvm"), () =>
    sdk.provisionCvm(client, {
      name, instance_type: "tdx.small", node_id: nodeId, kms_id: kmsId, image: "dstack-0.5.3", disk_size: 20,
      listed: false, compose_file: appCompose, env_keys: ["GREETING"],
    }),
  );
  let deployed;
  if (provision) {
    const commit = {
      app_id: provision.app_id, compose_hash: provision.compose_hash, kms_id: kmsId, env_keys: ["GREETING"],
      encrypted_env: await seal({ GREETING: "hello" }, provision.app_env_encrypt_pubkey),
    };
    const made = await expectValid(tag("commitCvmProvision"), () => sdk.commitCvmProvision(client, commit));
    const hosted = await raw(`/apps/${provision.app_id}/cvms`);
    expect(tag("the commit made one CVM of the app"), hosted.length === 1);
    deployed = hosted[0];
    const again = await expectValid(tag("commitCvmProvision again (idempotent)"), () => sdk.commitCvmProvision(client, commit));
    if (again && made) expect(tag("the same commit again answers the same CVM"), again.id === made.id);
  }
  if (deployed) {
    const cid = deployed.id;
    await settle(cid);
    const held = await expectValid(tag("getCvmComposeFile of the deployed CVM"), () => sdk.getCvmComposeFile(client, { id: cid }));
    if (held) {
      expect(tag("the deployed CVM holds the compose committed"), held.docker_compose_file === COMPOSE);
      // The SDK's getComposeHash (the answer's own getHash() disagrees
      // with it on the same object, so the exported function is used).
      expect(tag("the SDK hashes the held compose to the provisioned hash"),
        sdk.getComposeHash(held) === provision.compose_hash);
    }
    const revisions = await expectValid(tag("getAppRevisions of the deployed app"), () =>
      sdk.getAppRevisions(client, { appId: deployed.app_id }),
    );
    const mine = (revisions?.revisions ?? []).filter((r) => r.vm_uuid === deployed.vm_uuid);
    expect(tag("the deploy is a revision of its app"), mine.length === 1);
    if (mine.length) {
      const detail = await expectValid(tag("getAppRevisionDetail"), () =>
        sdk.getAppRevisionDetail(client, { appId: deployed.app_id, revisionId: mine[0].revision_id, rawComposeFile: true }),
      );
      if (detail) expect(tag("the revision has the committed compose hash"), detail.compose_hash === provision.compose_hash);
    }

    // The two-step compose update: provision the new compose, then commit it with a new env.
    const update = await expectValid(tag("provisionCvmComposeFileUpdate"), () =>
      sdk.provisionCvmComposeFileUpdate(client, {
        id: cid, app_compose: { ...appCompose, docker_compose_file: COMPOSE.replace("nginx:1.27", "nginx:1.28") },
        update_env_vars: true,
      }),
    );
    if (update) {
      expect(tag("the update's compose hash is another"), update.compose_hash !== provision.compose_hash);
      const sealed = await seal({ GREETING: "hi" }, provision.app_env_encrypt_pubkey);
      await expectValid(tag("commitCvmComposeFileUpdate"), () =>
        sdk.commitCvmComposeFileUpdate(client, {
          id: cid, compose_hash: update.compose_hash, encrypted_env: sealed, env_keys: ["GREETING"], update_env_vars: true,
        }),
      );
      await settle(cid);
      const text = await expectValid(tag("getCvmDockerCompose after the update"), () => sdk.getCvmDockerCompose(client, { id: cid }));
      if (text !== undefined) expect(tag("the update's compose is the one held"), String(text).includes("nginx:1.28"));
    }
    await fails(tag("commitCvmComposeFileUpdate, a hash not provisioned"), () =>
      sdk.commitCvmComposeFileUpdate(client, { id: cid, compose_hash: "00".repeat(32) }), 400,
      "a compose hash no update provisioned is refused");
    await settle(cid);
    const envs = await expectValid(tag("updateCvmEnvs"), async () =>
      sdk.updateCvmEnvs(client, {
        id: cid, encrypted_env: await seal({ GREETING: "hey", LEVEL: "3" }, provision.app_env_encrypt_pubkey),
        env_keys: ["GREETING", "LEVEL"],
      }),
    );
    if (envs) expect(tag("the envs update is in progress"), envs.status === "in_progress" && envs.allowed_envs_changed === true);
    await settle(cid);
    const dc = await expectValid(tag("updateDockerCompose"), () =>
      sdk.updateDockerCompose(client, { id: cid, docker_compose_file: COMPOSE.replace("nginx:1.27", "nginx:1.29") }),
    );
    if (dc) expect(tag("the docker-compose update is in progress"), dc.status === "in_progress");
    await settle(cid);
    const script = "#!/bin/sh\necho sdk-check\n";
    const pls = await expectValid(tag("updatePreLaunchScript"), () =>
      sdk.updatePreLaunchScript(client, { id: cid, pre_launch_script: script }),
    );
    if (pls) expect(tag("the pre-launch script update is in progress"), pls.status === "in_progress");
    await settle(cid);
    const got = await expectValid(tag("getCvmPreLaunchScript after the update"), () => sdk.getCvmPreLaunchScript(client, { id: cid }));
    if (got !== undefined && pls) expect(tag("the pre-launch script is the one set"), got === script);
    const patched = await expectValid(tag("patchCvm"), () =>
      sdk.patchCvm(client, { id: cid, public_logs: false, pre_launch_script: "#!/bin/sh\n" }),
    );
    if (patched) expect(tag("an off-chain app's patch needs no on-chain hash"), patched.requiresOnChainHash === false);
    await settle(cid);
    const replica = await expectValid(tag("replicateCvm"), () => sdk.replicateCvm(client, { id: cid, node_id: nodeIds[0] }));
    if (replica) expect(tag("the replica runs the same app"), replica.app_id === deployed.app_id);
    const instance = await expectValid(tag("createAppInstance"), () =>
      sdk.createAppInstance(client, { appId: deployed.app_id, node_id: nodeId }),
    );
    if (instance) expect(tag("the new instance runs the same app"), instance.app_id === deployed.app_id);
    await expectValid(tag("checkCvmIsAllowed"), () => sdk.checkCvmIsAllowed(client, { cvmId: cid, node_id: nodeId }));
    await expectValid(tag("checkAppIsAllowed"), () =>
      sdk.checkAppIsAllowed(client, { appId: deployed.app_id, compose_hash: provision.compose_hash, node_id: nodeId }),
    );
    await expectValid(tag("checkAppCvmsIsAllowed"), () => sdk.checkAppCvmsIsAllowed(client, { appId: deployed.app_id }));
  }

  // --- An app whose KMS is on chain: updates wait for their hash registered there.
  const ocName = `sdk-ts-${short}-oc`;
  const oc = await expectValid(tag("provisionCvm, on-chain KMS"), () =>
    sdk.provisionCvm(client, {
      name: ocName, instance_type: "tdx.small", kms: "BASE",
      compose_file: { name: ocName, docker_compose_file: COMPOSE, allowed_envs: ["GREETING"] },
    }),
  );
  if (oc) {
    await expectValid(tag("commitCvmProvision, on-chain KMS"), async () =>
      sdk.commitCvmProvision(client, {
        app_id: oc.app_id, compose_hash: oc.compose_hash, contract_address: `0x${oc.app_id}`,
        deployer_address: `0x${"12".repeat(20)}`, env_keys: ["GREETING"],
        encrypted_env: await seal({ GREETING: "chain" }, oc.app_env_encrypt_pubkey),
      }),
    );
    const hosted = await raw(`/apps/${oc.app_id}/cvms`);
    if (hosted.length) {
      const ocid = hosted[0].id;
      await settle(ocid);
      const need = await expectValid(tag("patchCvm, on-chain KMS"), () =>
        sdk.patchCvm(client, { id: ocid, docker_compose_file: COMPOSE.replace("nginx:1.27", "nginx:1.30") }),
      );
      if (need) {
        expect(tag("an on-chain app's patch waits for its hash"), need.requiresOnChainHash === true);
        if (need.requiresOnChainHash) {
          const confirmed = await expectValid(tag("confirmCvmPatch"), () =>
            sdk.confirmCvmPatch(client, { id: ocid, composeHash: need.composeHash, transactionHash: TX_HASH }),
          );
          if (confirmed) expect(tag("the confirmed patch names its operation"), Boolean(confirmed.correlationId));
        }
      }
      await settle(ocid);
      const dc = await expectValid(tag("updateDockerCompose, on-chain KMS"), () =>
        sdk.updateDockerCompose(client, { id: ocid, docker_compose_file: COMPOSE.replace("nginx:1.27", "nginx:1.31") }),
      );
      if (dc) expect(tag("an on-chain app's compose update waits for its hash"), dc.status === "precondition_required");
      // The update held under its one-time token (patch with X-Prepare-Only
      // not asked: the 465's commit_token), committed once registered.
      await settle(ocid);
      const held = await expectValid(tag("patchCvm, on-chain KMS, for a commit token"), () =>
        sdk.patchCvm(client, { id: ocid, pre_launch_script: "#!/bin/sh\necho chain\n" }),
      );
      if (held?.requiresOnChainHash && held.commitToken) {
        const committed = await expectValid(tag("commitCvmUpdate"), () =>
          sdk.commitCvmUpdate(client, { id: ocid, token: held.commitToken, composeHash: held.composeHash, transactionHash: TX_HASH }),
        );
        if (committed) expect(tag("the committed update is in progress"), committed.status === "in_progress");
        await fails(tag("commitCvmUpdate, the token again"), () =>
          sdk.commitCvmUpdate(client, { id: ocid, token: held.commitToken, composeHash: held.composeHash, transactionHash: TX_HASH }),
          400, "a commit token is good once");
      } else {
        expect(tag("an on-chain app's patch answers a commit token"), false);
      }
      await settle(ocid);
      const sealed = await seal({ GREETING: "chain2" }, oc.app_env_encrypt_pubkey);
      const pre = await expectValid(tag("updateCvmEnvs, on-chain KMS, new keys"), () =>
        sdk.updateCvmEnvs(client, { id: ocid, encrypted_env: sealed, env_keys: ["GREETING", "EXTRA"] }),
      );
      if (pre) {
        expect(tag("new env keys of an on-chain app wait for their hash"), pre.status === "precondition_required");
        await settle(ocid);
        const done = await expectValid(tag("updateCvmEnvs, on-chain KMS, hash registered"), () =>
          sdk.updateCvmEnvs(client, {
            id: ocid, encrypted_env: sealed, env_keys: ["GREETING", "EXTRA"], compose_hash: pre.compose_hash,
            transaction_hash: TX_HASH,
          }),
        );
        if (done) expect(tag("the registered env update is in progress"), done.status === "in_progress");
      }
      await expectValid(tag("checkCvmIsAllowed, on-chain KMS"), () =>
        sdk.checkCvmIsAllowed(client, { cvmId: ocid, compose_hash: oc.compose_hash }),
      );
    }
  }

  // --- Settings of idle CVMs.
  const vis = await idle("running");
  await expectValid(tag("updateCvmVisibility"), () =>
    sdk.updateCvmVisibility(client, { id: vis.id, public_sysinfo: false, public_logs: true, public_tcbinfo: false }),
  );
  const resized = await idle("stopped");
  await expectValid(tag("updateCvmResources"), () =>
    sdk.updateCvmResources(client, { id: resized.id, instance_type: "tdx.medium", allow_restart: true }),
  );
  const image = images?.items?.find((i) => i.name !== running.os.name)?.name ?? "dstack-0.5.3";
  const upgraded = await idle("running");
  await expectValid(tag("updateOsImage"), () => sdk.updateOsImage(client, { id: upgraded.id, os_image_name: image }));
  const refused = await idle("running");
  await fails(tag("updateOsImage, an unknown image"), () =>
    sdk.updateOsImage(client, { id: refused.id, os_image_name: "dstack-9.9.9" }), 400,
    "an image not in the catalogue is refused");
  await expectValid(tag("refreshCvmInstanceId"), () => sdk.refreshCvmInstanceId(client, { id: running.id, dry_run: true }));
  await expectValid(tag("refreshCvmInstanceIds"), () =>
    sdk.refreshCvmInstanceIds(client, { cvm_ids: [running.id, stopped.id], running_only: false, dry_run: true, limit: 10 }),
  );

  // --- Lifecycle.
  await expectValid(tag("startCvm"), () => sdk.startCvm(client, { id: stopped.id }));
  await expectValid(tag("getCvmState while starting"), () => sdk.getCvmState(client, { id: stopped.id }));
  await expectValid(tag("shutdownCvm"), () => sdk.shutdownCvm(client, { id: running.id }));
  await expectValid(tag("getCvmStatusBatch in transitions"), () =>
    sdk.getCvmStatusBatch(client, { vmUuids: everyone.map((c) => c.vm_uuid) }),
  );
  const toStop = await idle("running");
  await expectValid(tag("stopCvm"), () => sdk.stopCvm(client, { id: toStop.id }));
  const toRestart = await idle("running");
  await expectValid(tag("restartCvm"), () => sdk.restartCvm(client, { id: toRestart.id, force: true }));
  const toDelete = await idle("running");
  await expectValid(tag("deleteCvm"), () => sdk.deleteCvm(client, { id: toDelete.id }));
  if (deployed) await expectValid(tag("deleteCvm of the deployed CVM"), () => sdk.deleteCvm(client, { id: deployed.id }));
  // Watching over SSE: a stopped CVM started, watched until running.
  const watched = await idle("stopped");
  await expectValid(tag("startCvm to watch"), () => sdk.startCvm(client, { id: watched.id }));
  const done = await expectValid(tag("watchCvmState"), () =>
    sdk.watchCvmState(client, { id: watched.id, target: "running", interval: 5, timeout: 60, maxRetries: 1, retryDelay: 0 }),
  );
  if (done) expect(tag("the watch ends with the target status"), done.status === "running");
}

console.log(
  `official SDK checks: ${passed} passed, ${failures} failed (${unserved} of them 501, not served yet), ` +
    `${disagreed} rejected where the SDKs disagree`,
);
process.exit(failures === 0 ? 0 : 1);
