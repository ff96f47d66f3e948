#!/usr/bin/env python3
"""Upload/download throughput and peak RSS of the relay for one 10 MiB file.

Starts the real `careplan-relay demo` binary given as the first argument on loopback in a
temp folder, logs in two demo offices with curl (mutual TLS), sends one 10 MiB PDF from the
first to the second and downloads it, three times, and prints the times and the relay's peak
RSS (VmHWM from /proc) after start, after the sends and after the downloads.

  scripts/bench_relay_streams.py target/debug/careplan-relay v2      # streams (issue #13)
  scripts/bench_relay_streams.py /path/to/old/careplan-relay v1      # base64 JSON (before)

v1 speaks the protocol before issue #13 (file bytes as base64 in the send's JSON), v2 the
streamed one (POST /uploads, PUT of the raw bytes, send naming the upload). Loopback only.
"""
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SIZE = 10 * 1024 * 1024
ROUNDS = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Curl:
    def __init__(self, url, ca, profile, version):
        self.url, self.ca, self.profile, self.version = url, ca, profile, version
        self.token = None

    def run(self, method, path, body_file=None, headers=(), out=None, data=None, ctype="application/json"):
        cmd = ["curl", "-sS", "-X", method, "--cacert", self.ca,
               "--cert", os.path.join(self.profile, "client.crt"),
               "--key", os.path.join(self.profile, "client.key"),
               "-o", out or "-", "-w", "\n%{http_code}"]
        if self.version:
            cmd += ["-H", f"x-careplan-protocol: {self.version}"]
        if self.token:
            cmd += ["-H", f"Authorization: Bearer {self.token}"]
        for h in headers:
            cmd += ["-H", h]
        if body_file:
            cmd += ["-H", f"Content-Type: {ctype}", "--data-binary", "@" + body_file]
        elif data is not None:
            cmd += ["-H", f"Content-Type: {ctype}", "--data-binary", data]
        cmd.append(self.url + path)
        r = subprocess.run(cmd, capture_output=True, check=True)
        text, _, code = r.stdout.decode("utf-8", "replace").rpartition("\n")
        return int(code), text

    def login(self, o):
        c, t = self.run("POST", "/api/v1/login/personal",
                        data=json.dumps({"user_id": o["personal_user"], "password": o["personal_password"]}))
        assert c == 200, t
        self.token = json.loads(t)["token"]
        c, t = self.run("POST", "/api/v1/login/office",
                        data=json.dumps({"user_id": o["office_user"], "password": o["office_password"]}))
        assert c == 200, t
        self.token = json.loads(t)["token"]


def main():
    binary, proto = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="relay-bench-")
    port = free_port()
    relay = subprocess.Popen([binary, "demo", "--data", os.path.join(work, "d"), "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info_path = os.path.join(work, "d", "demo.json")
        for _ in range(600):
            if os.path.exists(info_path):
                break
            time.sleep(0.1)
        time.sleep(1.0)
        info = json.load(open(info_path))
        version = "2" if proto == "v2" else None
        a = Curl(info["relay_url"], info["ca"], info["offices"][0]["profile"], version)
        b = Curl(info["relay_url"], info["ca"], info["offices"][1]["profile"], version)
        a.login(info["offices"][0])
        b.login(info["offices"][1])
        start_hwm = hwm_kib(relay.pid)
        up_times, down_times = [], []
        ids = []
        for i in range(ROUNDS):
            data = os.urandom(SIZE - 9)
            data = b"%PDF-1.4\n" + data
            f = os.path.join(work, f"file{i}.pdf")
            open(f, "wb").write(data)
            sha = hashlib.sha256(data).hexdigest()
            name = f"資料{i}.pdf"
            dest = info["offices"][1]["office"]
            t0 = time.perf_counter()
            if proto == "v1":
                body = os.path.join(work, f"send{i}.json")
                json.dump({"message": "bench", "destinations": [{"office": dest, "files": [
                    {"name": name, "data": base64.b64encode(data).decode()}]}]}, open(body, "w"))
                t0 = time.perf_counter()
                c, t = a.run("POST", "/api/v1/send", body_file=body, headers=[f"Idempotency-Key: bench-{i}"])
            else:
                c, t = a.run("POST", "/api/v1/uploads", data=json.dumps({"size": len(data), "sha256": sha}))
                assert c == 201, t
                up = json.loads(t)["id"]
                c, t = a.run("PUT", f"/api/v1/uploads/{up}", body_file=f, ctype="application/octet-stream",
                             headers=["Upload-Offset: 0"])
                assert c == 200, t
                c, t = a.run("POST", "/api/v1/send", headers=[f"Idempotency-Key: bench-{i}"],
                             data=json.dumps({"message": "bench", "destinations": [{"office": dest, "files": [
                                 {"name": name, "upload": up, "sha256": sha, "size": len(data)}]}]}))
            up_times.append(time.perf_counter() - t0)
            assert c == 200, t
            c, t = b.run("GET", "/api/v1/received")
            lst = json.loads(t)
            fid = next(x["id"] for tr in lst for x in tr["files"] if x["name"] == name)
            ids.append((fid, sha))
        after_up = hwm_kib(relay.pid)
        for fid, sha in ids:
            out = os.path.join(work, "down.bin")
            t0 = time.perf_counter()
            c, _ = b.run("GET", f"/api/v1/files/{fid}", out=out)
            down_times.append(time.perf_counter() - t0)
            assert c == 200
            assert hashlib.sha256(open(out, "rb").read()).hexdigest() == sha
        after_down = hwm_kib(relay.pid)
        mib = SIZE / (1024 * 1024)
        print(f"protocol {proto}: 10 MiB file x {ROUNDS}")
        print("  upload (send) s:", " ".join(f"{t:.3f}" for t in up_times),
              f"-> best {mib / min(up_times):.1f} MiB/s")
        print("  download s:     ", " ".join(f"{t:.3f}" for t in down_times),
              f"-> best {mib / min(down_times):.1f} MiB/s")
        print(f"  relay peak RSS (VmHWM): after start+login {start_hwm / 1024:.1f} MiB, "
              f"after sends {after_up / 1024:.1f} MiB, after downloads {after_down / 1024:.1f} MiB; "
              f"RSS now {rss_kib(relay.pid) / 1024:.1f} MiB")
    finally:
        relay.terminate()
        relay.wait()


if __name__ == "__main__":
    main()
