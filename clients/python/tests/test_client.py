"""The Python client against a real server (its URL in SANDBOX_URL): the test command starts one and runs these."""
import asyncio
import io
import os
import zipfile

import pytest

from sandbox_client import AsyncSandboxClient, SandboxClient, SandboxError

URL = os.environ.get("SANDBOX_URL")
if not URL:
    raise RuntimeError("SANDBOX_URL is not set: these tests drive a real server (the test command starts one).")


def project_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("pkg/main.py", "print('from the archive')\n")
        z.writestr("pkg/data.txt", "data\n")
    return buffer.getvalue()


def test_sync_client_as_the_readme_shows_it():
    with SandboxClient(URL, token=None) as c:
        s = c.create_session(metadata={"task": "t1"}, env={"A": "1"})
        try:
            assert s.info.metadata == {"task": "t1"}
            assert s.info.env == {"A": "1"}
            r = s.execute("print(6*7)")
            assert r.stdout == "42\n" and r.ok
            assert s.execute("import os; print(os.environ['A'])").stdout == "1\n"
            assert s.execute("echo $A", "bash").stdout == "1\n"
            events = list(s.execute_stream("import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.05)"))
            assert "".join(e.text or "" for e in events if e.type == "output") == "0\n1\n2\n"
            assert events[-1].type == "result" and events[-1].result is not None and events[-1].result.stdout == "0\n1\n2\n"
            s.upload("a.txt", b"hi")
            assert s.download("a.txt") == b"hi"
            done = s.upload_archive(project_zip(), "proj")
            assert (done.path, done.files) == ("proj", 2)
            assert s.execute("python3 proj/pkg/main.py", "bash").stdout == "from the archive\n"
            found = s.search_code("from the", path="proj")
            assert [(m["path"], m["line"]) for m in found["matches"]] == [("proj/pkg/main.py", 1)]
            assert sorted(f.path for f in s.list_files("proj", recursive=True) if f.kind == "file") == ["proj/pkg/data.txt", "proj/pkg/main.py"]
            with zipfile.ZipFile(io.BytesIO(s.download_archive("proj"))) as z:
                assert z.read("pkg/data.txt") == b"data\n"
            with pytest.raises(SandboxError) as missing:
                s.download("missing.txt")
            assert missing.value.code == "file_not_found" and missing.value.status == 404
            assert [x.id for x in c.list_sessions(metadata={"task": "t1"})] == [s.id]
            s.update(env={"A": "2"})
            assert s.execute("import os; print(os.environ['A'])").stdout == "2\n"
            p = s.start_process("echo started && sleep 30")
            out = s.process_output(p.process_id, wait_seconds=5)
            assert out.stdout.startswith("started")
            s.kill_process(p.process_id)
            assert not s.process_output(p.process_id, wait_seconds=5).process.running
        finally:
            s.close()
        with pytest.raises(SandboxError) as gone:
            s.execute("print(1)")
        assert gone.value.code == "session_not_found"
        with pytest.raises(SandboxError) as bad:
            c.create_session(metadata={"bad key": "x"})
        assert bad.value.code == "invalid_argument"


def test_async_client_the_same_with_await():
    async def scenario():
        async with AsyncSandboxClient(URL) as c:
            s = await c.create_session(metadata={"task": "t2"}, env={"A": "1"})
            try:
                r = await s.execute("print(6*7)")
                assert r.stdout == "42\n"
                texts = [e.text async for e in s.execute_stream("print('a'); print('b')") if e.type == "output"]
                assert "".join(texts) == "a\nb\n"
                await s.upload("a.txt", b"hi")
                assert await s.download("a.txt") == b"hi"
                assert (await s.upload_archive(project_zip())).files == 2
                with pytest.raises(SandboxError) as missing:
                    await s.download("nope.txt")
                assert missing.value.code == "file_not_found"
            finally:
                await s.close()
    asyncio.run(scenario())


def test_volumes_outlive_sessions_and_take_files_without_one():
    import uuid
    with SandboxClient(URL, token=None) as c:
        name = "py-" + uuid.uuid4().hex[:8]
        v = c.create_volume(name, size_mb=8)
        assert (v["name"], v["size_mb"]) == (name, 8)
        try:
            c.upload_volume_file(name, "seed.txt", "from the client")
            s = c.create_session(volumes=[{"name": name, "path": "/data/v"}])
            try:
                assert s.execute("cat /data/v/seed.txt; echo; echo more > /data/v/more.txt", "bash").stdout == "from the client\n"
                with pytest.raises(SandboxError) as busy:
                    c.upload_volume_file(name, "x.txt", "x")
                assert busy.value.code == "volume_busy" and busy.value.status == 409
            finally:
                s.close()
            assert c.download_volume_file(name, "more.txt") == b"more\n"
            assert [x["name"] for x in c.list_volumes() if x["name"] == name] == [name]
        finally:
            c.delete_volume(name)
        with pytest.raises(SandboxError) as gone:
            c.download_volume_file(name, "more.txt")
        assert gone.value.code == "volume_not_found"
