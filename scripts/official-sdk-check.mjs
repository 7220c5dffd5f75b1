// Phala's official TypeScript SDK (@phala/cloud) as a client of our
// simulator: every action that maps to an operation we simulate, in both API
// versions the SDK supports, must pass the SDK's own (zod) validation.
// Run by scripts/official-sdk-check.sh; PHALA_SIM_URL and PHALA_SIM_KEY set.
import * as sdk from "@phala/cloud";

const base = `${process.env.PHALA_SIM_URL}/api/v1`;
const apiKey = process.env.PHALA_SIM_KEY;
let failures = 0;
let passed = 0;

async function expectValid(name, call) {
  try {
    const result = await call();
    passed += 1;
    return result;
  } catch (e) {
    failures += 1;
    const detail = e?.issues ? JSON.stringify(e.issues, null, 1) : String(e?.message ?? e);
    console.error(`FAIL ${name}: ${detail}`);
    return undefined;
  }
}

async function raw(path, version) {
  const r = await fetch(`${base}${path}`, { headers: { "X-API-Key": apiKey, "X-Phala-Version": version } });
  return r.json();
}

for (const version of ["2025-10-28", "2026-01-21"]) {
  const client = sdk.createClient({ apiKey, baseURL: base, version });
  // The fleet as the v2026 list gives it (hashed ids, statuses).
  const fleet = await raw("/cvms", "2026-01-21");
  const idle = (status, n) => fleet.filter((c) => c.status === status && !c.in_progress)[n];
  const running = idle("running", version === "2025-10-28" ? 0 : 4);
  const stopped = idle("stopped", version === "2025-10-28" ? 0 : 2);
  const tag = (s) => `${s} (${version})`;

  await expectValid(tag("getCvmList (paged)"), () => sdk.getCvmList(client, { page: 1, page_size: 100 }));
  await expectValid(tag("getCvmList, a later page"), () => sdk.getCvmList(client, { page: 2, page_size: 7 }));
  await expectValid(tag("getCvmInfo"), () => sdk.getCvmInfo(client, { id: running.id }));
  await expectValid(tag("getCvmState"), () => sdk.getCvmState(client, { id: running.id }));
  await expectValid(tag("getCvmState of a stopped CVM"), () => sdk.getCvmState(client, { id: stopped.id }));
  await expectValid(tag("getCvmStatusBatch"), () =>
    sdk.getCvmStatusBatch(client, { vmUuids: fleet.map((c) => c.vm_uuid) }),
  );
  await expectValid(tag("getAppCvms"), () => sdk.getAppCvms(client, { appId: running.app_id }));
  await expectValid(tag("startCvm"), () => sdk.startCvm(client, { id: stopped.id }));
  await expectValid(tag("getCvmState while starting"), () => sdk.getCvmState(client, { id: stopped.id }));
  await expectValid(tag("shutdownCvm"), () => sdk.shutdownCvm(client, { id: running.id }));
  await expectValid(tag("getCvmStatusBatch in transitions"), () =>
    sdk.getCvmStatusBatch(client, { vmUuids: fleet.map((c) => c.vm_uuid) }),
  );
  await expectValid(tag("stopCvm"), () => sdk.stopCvm(client, { id: idle("running", 1 + (version === "2026-01-21" ? 4 : 0)).id }));
  await expectValid(tag("restartCvm"), () =>
    sdk.restartCvm(client, { id: idle("running", 2 + (version === "2026-01-21" ? 4 : 0)).id, force: true }),
  );
  await expectValid(tag("deleteCvm"), () => sdk.deleteCvm(client, { id: idle("running", 3 + (version === "2026-01-21" ? 4 : 0)).id }));
}

console.log(`official SDK checks: ${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
