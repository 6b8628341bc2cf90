// The TypeScript client against a real server (its URL in SANDBOX_URL): the test command builds and packs the package,
// installs the tarball into a clean project and runs this file there with Node's test runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SandboxClient, SandboxError } from "sandbox-client";

const url = process.env.SANDBOX_URL;
if (!url) {
  throw new Error("SANDBOX_URL is not set: these tests drive a real server (the test command starts one).");
}

/** A plain tar of text files (ustar headers), enough for an upload. */
function tar(files) {
  const blocks = [];
  for (const [name, text] of Object.entries(files)) {
    const data = new TextEncoder().encode(text);
    const header = new Uint8Array(512);
    const put = (s, at) => header.set(new TextEncoder().encode(s), at);
    put(name, 0);
    put("0000644\0", 100);
    put("0001750\0", 108);
    put("0001750\0", 116);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124);
    put("00000000000\0", 136);
    put("        ", 148);
    put("0", 156);
    put("ustar\0" + "00", 257);
    const sum = header.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(header, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

test("a session with metadata and env executes, streams, takes an archive, gives files back and reports errors by code", async () => {
  const c = new SandboxClient(url);
  const s = await c.createSession({ metadata: { task: "t1" }, env: { A: "1" } });
  try {
    assert.deepEqual(s.info.metadata, { task: "t1" });
    const r = await s.execute("print(6*7)");
    assert.equal(r.stdout, "42\n");
    assert.equal((await s.execute("echo $A", { language: "bash" })).stdout, "1\n");
    const events = [];
    for await (const e of s.executeStream("import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.05)")) {
      events.push(e);
    }
    assert.equal(events.filter(e => e.type === "output").map(e => e.text).join(""), "0\n1\n2\n");
    assert.equal(events.at(-1).type, "result");
    await s.upload("a.txt", "hi");
    assert.equal(new TextDecoder().decode(await s.download("a.txt")), "hi");
    const unpacked = await s.uploadArchive(tar({ "pkg/main.py": "print('from the archive')\n", "pkg/data.txt": "data\n" }), "proj");
    assert.equal(unpacked.files, 2);
    assert.equal((await s.execute("python3 proj/pkg/main.py", { language: "bash" })).stdout, "from the archive\n");
    assert.deepEqual((await s.searchCode("from the", { path: "proj" })).matches.map(m => [m.path, m.line]), [["proj/pkg/main.py", 1]]);
    const zip = await s.downloadArchive("proj", "zip");
    assert.deepEqual([...zip.subarray(0, 2)], [0x50, 0x4b]);
    await assert.rejects(s.download("missing.txt"), e => e instanceof SandboxError && e.code === "file_not_found" && e.status === 404);
    assert.deepEqual((await c.listSessions({ task: "t1" })).map(x => x.id), [s.id]);
    await s.update({ env: { A: "2" } });
    assert.equal((await s.execute("import os; print(os.environ['A'])")).stdout, "2\n");
  } finally {
    await s.close();
  }
  await assert.rejects(s.execute("print(1)"), e => e instanceof SandboxError && e.code === "session_not_found");
  await assert.rejects(c.createSession({ metadata: { "bad key": "x" } }), e => e instanceof SandboxError && e.code === "invalid_argument");
});

test("a volume outlives its session and takes files without one", async () => {
  const c = new SandboxClient(url);
  const name = "ts-" + Math.random().toString(16).slice(2, 10);
  const v = await c.createVolume(name, 8);
  assert.deepEqual([v.name, v.size_mb], [name, 8]);
  try {
    await c.uploadVolumeFile(name, "seed.txt", "from typescript");
    const s = await c.createSession({ volumes: [{ name, path: "/data/v" }] });
    try {
      assert.equal((await s.execute("cat /data/v/seed.txt; echo; echo more > /data/v/more.txt", { language: "bash" })).stdout, "from typescript\n");
      await assert.rejects(c.uploadVolumeFile(name, "x.txt", "x"), e => e instanceof SandboxError && e.code === "volume_busy" && e.status === 409);
    } finally {
      await s.close();
    }
    assert.equal(new TextDecoder().decode(await c.downloadVolumeFile(name, "more.txt")), "more\n");
    assert.deepEqual((await c.listVolumes()).filter(x => x.name === name).map(x => x.name), [name]);
  } finally {
    await c.deleteVolume(name);
  }
  await assert.rejects(c.downloadVolumeFile(name, "more.txt"), e => e instanceof SandboxError && e.code === "volume_not_found");
});
