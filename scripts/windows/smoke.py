#!/usr/bin/env python3
"""Smoke test of the Windows build under Wine (run by scripts/windows/smoke.sh).

Headless part (always):
  * the exe: GUI subsystem, icon, version information, manifest (asInvoker);
  * `careplan.exe --version` / `--help` print through the GUI-subsystem exe;
  * `careplan-relay.exe demo` on loopback, then as two offices with their own data folders:
    `received`, `receive --all` into a folder whose name has Japanese characters and a
    space, `inspect` and `route` of those files, `send` back, `receive` again (bytes must be
    identical), `ledger --export` (UTF-8 BOM, CRLF only), and the default data folder under
    the user's roaming AppData.
GUI part (`--gui`): `careplan.exe` without arguments on the Xvfb display; screenshots of the
login screen and, after logging in with the demo IDs, of the top page; a second start must
not open a second window.

Every check prints one line `ok …` or `FAIL …`; the exit code is the number of failures
(0 = all passed). A report is written to dist/windows-smoke.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "x86_64-pc-windows-gnu"

failures: list[str] = []
report: list[str] = []


def note(line: str) -> None:
    print(line, flush=True)
    report.append(line)


def check(cond: bool, what: str, detail: str = "") -> bool:
    if cond:
        note(f"ok   {what}")
    else:
        note(f"FAIL {what}" + (f": {detail}" if detail else ""))
        failures.append(what)
    return cond


# ----- Wine helpers -------------------------------------------------------------------------


class Wine:
    def __init__(self, prefix: Path, out: Path):
        self.prefix = prefix
        self.out = out
        self.loader = os.environ.get("WINE") or (
            "/usr/lib/wine/wine64" if Path("/usr/lib/wine/wine64").exists() else "wine64"
        )
        self.user = os.environ.get("USER") or "root"
        self.env = dict(os.environ)
        self.env.update(
            WINEPREFIX=str(prefix),
            WINEDEBUG=os.environ.get("WINEDEBUG", "-all"),
            WINEDLLOVERRIDES="mscoree,mshtml=",
            # A Japanese Windows: ANSI code page 932, Japanese UI strings.
            LANG=os.environ.get("SMOKE_LANG", "ja_JP.UTF-8"),
            LC_ALL=os.environ.get("SMOKE_LANG", "ja_JP.UTF-8"),
        )
        self.env.pop("CAREPLAN_DATA_DIR", None)

    def c(self, rel: str) -> Path:
        """Unix path of `C:\\rel`."""
        return self.prefix / "drive_c" / rel.replace("\\", "/")

    @staticmethod
    def cwin(rel: str) -> str:
        return "C:\\" + rel.replace("/", "\\")

    def to_unix(self, winpath: str) -> Path:
        p = winpath.replace("\\", "/")
        if len(p) > 1 and p[1] == ":":
            drive = p[0].lower()
            rest = p[2:].lstrip("/")
            if drive == "c":
                return self.prefix / "drive_c" / rest
            if drive == "z":
                return Path("/") / rest
        return Path(p)

    def appdata(self) -> Path:
        return self.prefix / "drive_c" / "users" / self.user / "AppData" / "Roaming"

    def run(self, exe: str, args: list[str], extra_env: dict | None = None, timeout=180):
        env = dict(self.env)
        if extra_env:
            env.update(extra_env)
        t0 = time.monotonic()
        p = subprocess.run(
            [self.loader, str(self.out / exe), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        p.elapsed = time.monotonic() - t0  # type: ignore[attr-defined]
        return p

    def popen(self, exe: str, args: list[str], extra_env: dict | None = None, **kw):
        env = dict(self.env)
        if extra_env:
            env.update(extra_env)
        return subprocess.Popen(
            [self.loader, str(self.out / exe), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kw,
        )


def text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def jout(p, what: str):
    if p.returncode != 0:
        check(False, what, f"exit {p.returncode}\n{text(p.stdout)}\n{text(p.stderr)}")
        return None
    try:
        v = json.loads(p.stdout)
    except ValueError as e:
        check(False, what, f"not JSON ({e}): {text(p.stdout)[:400]} {text(p.stderr)[:400]}")
        return None
    return v


# ----- PE checks (no extra tools) -------------------------------------------------------------


def pe_info(path: Path) -> dict:
    data = path.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe : pe + 4] == b"PE\0\0"
    nsec = struct.unpack_from("<H", data, pe + 6)[0]
    opt_size = struct.unpack_from("<H", data, pe + 20)[0]
    opt = pe + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    subsystem = struct.unpack_from("<H", data, opt + 68)[0]
    dd = opt + (112 if magic == 0x20B else 96)
    rsrc_rva = struct.unpack_from("<I", data, dd + 2 * 8)[0]
    sec = opt + opt_size
    rsrc_off = None
    for i in range(nsec):
        s = sec + i * 40
        va, raw_size, raw_ptr = struct.unpack_from("<III", data, s + 12)
        vsize = struct.unpack_from("<I", data, s + 8)[0]
        if va <= rsrc_rva < va + max(vsize, raw_size):
            rsrc_off = raw_ptr + (rsrc_rva - va)
    types = []
    if rsrc_off is not None:
        named, ids = struct.unpack_from("<HH", data, rsrc_off + 12)
        for i in range(named + ids):
            name, _ = struct.unpack_from("<II", data, rsrc_off + 16 + i * 8)
            if not name & 0x80000000:
                types.append(name)
    return {"subsystem": subsystem, "resource_types": types, "data": data}


def utf16_value(data: bytes, key: str) -> str | None:
    k = key.encode("utf-16-le") + b"\0\0"
    i = data.find(k)
    if i < 0:
        return None
    j = i + len(k)
    j += (-j) % 4  # values are 32-bit aligned
    end = data.find(b"\0\0", j)
    while end != -1 and (end - j) % 2:
        end = data.find(b"\0\0", end + 1)
    return data[j:end].decode("utf-16-le", errors="replace")


def check_exe(w: Wine) -> None:
    exe = w.out / "careplan.exe"
    info = pe_info(exe)
    check(info["subsystem"] == 2, "careplan.exe is a GUI-subsystem exe (no console window)",
          f"subsystem {info['subsystem']}")
    t = info["resource_types"]
    check(3 in t and 14 in t, "careplan.exe has an application icon (RT_ICON, RT_GROUP_ICON)", str(t))
    check(16 in t, "careplan.exe has version information (RT_VERSION)", str(t))
    check(24 in t, "careplan.exe has an application manifest (RT_MANIFEST)", str(t))
    d = info["data"]
    desc = utf16_value(d, "FileDescription")
    check(bool(desc) and "ケアプラン" in desc, f"version info FileDescription = {desc!r}")
    note(f"     ProductVersion = {utf16_value(d, 'ProductVersion')!r}, "
         f"OriginalFilename = {utf16_value(d, 'OriginalFilename')!r}")
    check(b'level="asInvoker"' in d, "manifest asks for no administrator rights (asInvoker)")
    font = (ROOT / "assets" / "BIZUDPGothic-Regular.ttf").read_bytes()
    check(font[4096:4160] in d and font[-64:] in d,
          "the Japanese font (assets/BIZUDPGothic-Regular.ttf) is bundled in careplan.exe")
    relay = pe_info(w.out / "careplan-relay.exe")
    check(relay["subsystem"] == 3, "careplan-relay.exe is a console exe")


# ----- headless smoke -------------------------------------------------------------------------


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def headless(w: Wine, VERSION: str) -> None:
    p = w.run("careplan.exe", ["--version"])
    check(p.returncode == 0 and VERSION in text(p.stdout),
          f"careplan.exe --version prints through the GUI-subsystem exe ({p.elapsed:.1f} s)",
          f"exit {p.returncode} out {text(p.stdout)!r} err {text(p.stderr)[:300]!r}")
    p = w.run("careplan.exe", ["--help"])
    check(p.returncode == 0 and "inspect" in text(p.stdout), "careplan.exe --help (Japanese help text)",
          text(p.stderr)[:300])

    base = "careplan smoke"  # a space in every path below
    shutil.rmtree(w.c(base), ignore_errors=True)
    # From cmd.exe (a batch file, as an office's IT person would): the GUI-subsystem exe must
    # print to cmd's console/pipe and its output must redirect to a file.
    w.c(base).mkdir(parents=True, exist_ok=True)
    shutil.copy(w.out / "careplan.exe", w.c(base) / "careplan.exe")
    w.c("careplan-cmd-test.bat").write_bytes(
        ("@echo off\r\n"
         f'"C:\\{base}\\careplan.exe" --version\r\n'
         f'"C:\\{base}\\careplan.exe" --version > "C:\\{base}\\version.txt"\r\n'
         "echo exit=%ERRORLEVEL%\r\n").encode("ascii"))
    p = subprocess.run([w.loader, "cmd", "/c", "C:\\careplan-cmd-test.bat"], env=w.env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    redirected = w.c(base) / "version.txt"
    check(VERSION in text(p.stdout) and "exit=0" in text(p.stdout)
          and redirected.exists() and VERSION in redirected.read_text(errors="replace"),
          "from cmd.exe: careplan.exe --version prints, and `> file` redirects",
          f"out {text(p.stdout)!r} err {text(p.stderr)[:300]!r}")
    shutil.rmtree(w.c("ケアプラン 受信"), ignore_errors=True)
    relay_dir = f"{base}\\中継 デモ"
    port = free_port()
    log = open(ROOT / "dist" / "windows-smoke-relay.log", "wb")
    t0 = time.monotonic()
    relay = w.popen("careplan-relay.exe",
                    ["demo", "--data", w.cwin(relay_dir), "--listen", f"127.0.0.1:{port}"],
                    stdout=log, stderr=subprocess.STDOUT)
    try:
        demo_json = w.c(relay_dir) / "demo.json"
        up = False
        while time.monotonic() - t0 < 300 and relay.poll() is None:
            if demo_json.exists():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        up = True
                        break
                except OSError:
                    pass
            time.sleep(0.5)
        if not check(up, f"careplan-relay.exe demo listens on 127.0.0.1:{port} "
                         f"({time.monotonic() - t0:.1f} s, data in C:\\{relay_dir})",
                     (ROOT / "dist" / "windows-smoke-relay.log").read_text(errors="replace")[-2000:]):
            return
        demo = json.loads(demo_json.read_text(encoding="utf-8"))
        offices = demo["offices"]
        url = f"https://localhost:{port}"

        def profile(o) -> str:
            prof = o["profile"]
            if not (len(prof) > 1 and prof[1] == ":"):
                prof = w.cwin(relay_dir) + "\\" + prof.replace("/", "\\")
            return prof

        def term(i: int, name: str, args: list[str], default_data=False):
            o = offices[i]
            common = ["--user", o["personal_user"], "--office-user", o["office_user"],
                      "--profile", profile(o), "--relay", url, "--terminal", name]
            if not default_data:
                common += ["--data-dir", w.cwin(f"{base}\\端末 {name}")]
            return w.run("careplan.exe", args + common, extra_env={
                "CAREPLAN_PASSWORD": o["personal_password"],
                "CAREPLAN_OFFICE_PASSWORD": o["office_password"],
            })

        a, b = offices[0], offices[1]
        p = term(1, "B", ["received", "--json"])
        rec = jout(p, "received (office B)")
        if rec is None:
            return
        from_a = [t for t in rec if t.get("sender_office") == a["office"]]
        check(True, f"received lists {len(rec)} transmissions at office B, {len(from_a)} from A "
                    f"({p.elapsed:.1f} s)")
        out1 = "ケアプラン 受信\\初回 2026年"
        p = term(1, "B", ["receive", "--all", "--out", w.cwin(out1), "--json"])
        got = jout(p, "receive --all")
        if got is None:
            return
        files = sorted(f for f in w.c(out1).iterdir() if f.is_file())
        check(len(files) > 0, f"receive --all saved {len(files)} files into C:\\{out1} "
                              f"(Japanese and a space in the path, {p.elapsed:.1f} s)")
        if not files:
            return
        bad = [f.name for f in files if any(c in f.name for c in '<>:"|?*\\/') or f.name[-1] in ". "]
        check(not bad, "received file names are Windows-safe", str(bad))
        csvs = [f for f in files if f.suffix.upper() == ".CSV"]
        # Files that A sent to B: A can send them again (sender = A, destination = B).
        a_files = [f for f in csvs if a["office"] in f.name]
        winpaths = [w.cwin(out1 + "\\" + f.name) for f in csvs]
        p = w.run("careplan.exe", ["inspect", "--json", *winpaths[:20]])
        ins = []
        try:  # one JSON object per file (JSON lines)
            ins = [json.loads(x) for x in text(p.stdout).splitlines() if x.strip()]
        except ValueError:
            pass
        errs = [i.get("file") for i in ins if i.get("errors")]
        check(p.returncode == 0 and len(ins) == min(len(winpaths), 20) and not errs,
              f"inspect --json of {len(ins)} received files by Windows path: MS932 contents "
              f"valid, no errors ({p.elapsed:.1f} s)",
              f"exit {p.returncode}, errors in {errs}, {text(p.stderr)[:400]}")
        p = w.run("careplan.exe", ["route", "--json", "--from", a["office"], *winpaths])
        ok = p.returncode in (0, 1)
        try:
            json.loads(p.stdout)
        except ValueError:
            ok = False
        check(ok, f"route --json --from {a['office']} ({p.elapsed:.1f} s)",
              f"exit {p.returncode} {text(p.stdout)[:300]} {text(p.stderr)[:300]}")
        if not a_files:
            check(False, "a file sent by office A among the received files", str([f.name for f in csvs]))
            return
        # One set (same serial) of A's files.
        serial = sorted(a_files, key=lambda f: f.name)[-1].stem.split("_")[-1]
        resend = [f for f in a_files if f.stem.endswith(serial)]
        p = term(0, "A", ["send", "--to", b["office"], "--yes", "--message", "Wine スモークテスト 再送",
                          "--json", *[w.cwin(out1 + "\\" + f.name) for f in resend]])
        sent = jout(p, "send")
        if sent is None:
            return
        check(sent.get("offices") == [b["office"]],
              f"send of {len(resend)} files from office A to B ({p.elapsed:.1f} s)", str(sent))
        out2 = "ケアプラン 受信\\2回目 (再送)"
        p = term(1, "B", ["receive", "--all", "--out", w.cwin(out2), "--json"])
        if jout(p, "receive --all (second)") is None:
            return
        got2 = {f.name: f for f in w.c(out2).iterdir()} if w.c(out2).exists() else {}
        same = all(f.name in got2 and sha(got2[f.name]) == sha(f) for f in resend)
        check(same, f"office B received the resent files byte for byte into C:\\{out2} "
                    f"({p.elapsed:.1f} s)", f"got {sorted(got2)}")
        ledger = "ケアプラン 受信\\台帳 2026年.csv"
        p = term(1, "B", ["ledger", "--export", w.cwin(ledger)])
        lp = w.c(ledger)
        if check(p.returncode == 0 and lp.exists(), "ledger --export to a Japanese file name",
                 f"exit {p.returncode} {text(p.stderr)[:300]}"):
            raw = lp.read_bytes()
            lines = raw.count(b"\n")
            check(raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == lines and lines > 1,
                  f"exported ledger is UTF-8 with BOM and CRLF line ends ({lines} rows)")
        # The default data folder: the user's roaming AppData.
        p = term(1, "B", ["received", "--json"], default_data=True)
        store = w.appdata() / "careplan" / "careplan" / "data" / "store"
        check(p.returncode == 0 and store.is_dir(),
              "without --data-dir the store is in %APPDATA%\\careplan\\careplan\\data",
              f"exit {p.returncode}; {store} exists: {store.exists()}")
    finally:
        os.killpg(relay.pid, signal.SIGTERM)
        try:
            relay.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(relay.pid, signal.SIGKILL)
        log.close()


# ----- installer ------------------------------------------------------------------------------


def installer(w: Wine, setup: Path) -> None:
    local = w.prefix / "drive_c" / "users" / w.user / "AppData" / "Local"
    inst = local / "Programs" / "careplan"
    shutil.rmtree(inst, ignore_errors=True)
    env = dict(w.env)
    p = subprocess.run([w.loader, str(setup), "/S"], env=env, capture_output=True, timeout=300)
    subprocess.run([w.loader.replace("wine64", "wineserver") if "wine64" in w.loader else "wineserver",
                    "-w"], env=env, timeout=120)
    check(p.returncode == 0 and (inst / "careplan.exe").exists(),
          "installer /S installs per user into %LOCALAPPDATA%\\Programs\\careplan",
          f"exit {p.returncode} {sorted(os.listdir(inst)) if inst.exists() else 'missing'}")
    menu = w.appdata() / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    links = [x.name for x in menu.glob("*.lnk")] if menu.exists() else []
    check(any("careplan" in x for x in links), "Start-menu entry (current user)", str(links))
    reg = (w.prefix / "user.reg").read_text(encoding="utf-8", errors="replace")
    check("Uninstall\\\\careplan" in reg, "uninstall entry under HKCU (Settings → Apps)")
    check("Uninstall\\\\careplan" not in (w.prefix / "system.reg").read_text(errors="replace"),
          "nothing written under HKLM (no administrator rights needed)")
    p = subprocess.run([w.loader, str(inst / "uninstall.exe"), "/S"], env=env, capture_output=True,
                       timeout=300)
    # NSIS copies the uninstaller to %TEMP% and returns at once; wait for it.
    subprocess.run([w.loader.replace("wine64", "wineserver") if "wine64" in w.loader else "wineserver",
                    "-w"], env=env, timeout=120)
    reg = (w.prefix / "user.reg").read_text(encoding="utf-8", errors="replace")
    links = [x.name for x in menu.glob("*.lnk")] if menu.exists() else []
    check(not inst.exists() and not any("careplan" in x for x in links)
          and "Uninstall\\\\careplan" not in reg,
          "uninstaller /S removes the program folder, the Start-menu entry and the registry keys",
          f"folder left: {inst.exists()} {sorted(os.listdir(inst)) if inst.exists() else ''}; links {links}")


# ----- GUI ------------------------------------------------------------------------------------


def plain(s: str) -> str:
    """Without ANSI colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", s)


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def find_windows(pattern: str) -> list[str]:
    p = sh("xdotool", "search", "--onlyvisible", "--name", pattern)
    return [x for x in p.stdout.split() if x]


def screenshot(path: Path, window: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sh("import", "-window", window or "root", str(path))


def gui(w: Wine, shots: Path, title: str) -> None:
    """Start the app without arguments (demo mode), screenshot the login screen, log in with
    the demo IDs and the passwords of demo.json, screenshot the top page."""
    data = w.appdata() / "careplan" / "careplan" / "data"
    shutil.rmtree(data, ignore_errors=True)  # a first start: nothing configured → demo
    demo_json = data / "demo-relay" / "demo.json"
    log = open(ROOT / "dist" / "windows-smoke-gui.log", "wb")
    t0 = time.monotonic()
    app = w.popen("careplan.exe", [], stdout=log, stderr=subprocess.STDOUT,
                  extra_env={"RUST_LOG": "info"})
    try:
        wins: list[str] = []
        while time.monotonic() - t0 < 240 and app.poll() is None:
            wins = find_windows(title)
            if wins and demo_json.exists():
                break
            time.sleep(1)
        if not check(bool(wins), f"the desktop window opens under Wine ({time.monotonic() - t0:.1f} s)",
                     f"exit {app.poll()}; see dist/windows-smoke-gui.log"):
            screenshot(ROOT / "dist" / "windows-wine-failed.png")
            return
        win = wins[0]
        time.sleep(6)  # demo relay start, first frames
        glog = (ROOT / "dist" / "windows-smoke-gui.log").read_text(errors="replace")
        renderer = next((ln.split("window ready", 1)[1].strip() for ln in plain(glog).splitlines()
                         if "window ready" in ln), "?")
        note(f"     renderer: {renderer}")
        login_png = shots / "windows-wine-login.png"
        screenshot(login_png, win)
        check(login_png.exists(), f"screenshot of the login screen: {login_png.relative_to(ROOT)}")

        # A second start must not open a second window (single_instance).
        log2_path = ROOT / "dist" / "windows-smoke-gui-second.log"
        with open(log2_path, "wb") as log2:
            second = w.popen("careplan.exe", [], stdout=log2, stderr=subprocess.STDOUT,
                             extra_env={"RUST_LOG": "info"})
            try:
                rc = second.wait(45)
            except subprocess.TimeoutExpired:
                rc = None
            n = len(find_windows(title))
            if rc is None:
                os.killpg(second.pid, signal.SIGKILL)
        said = [ln for ln in plain(log2_path.read_text(errors="replace")).splitlines() if ln.strip()]
        check(rc is not None and n == 1, "a second start exits and leaves one window",
              f"second process {'still running' if rc is None else f'exit {rc}'}, {n} window(s)")
        note(f"     second start: exit {rc}; last output: {said[-1][:200] if said else '(none)'}")
        # The second start leaves careplan.focus; the running window takes it and comes forward.
        focus = data / "careplan.focus"
        t1 = time.monotonic()
        while focus.exists() and time.monotonic() - t1 < 10:
            time.sleep(0.2)
        check(rc is not None and not focus.exists(),
              "the running window took the second start's focus request (careplan.focus)",
              "the request file is still there")

        if login(w, win, demo_json, shots, login_png):
            tray(w, app, win, title, shots)
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
        log.close()


def click(win: str, x: int, y: int) -> None:
    sh("xdotool", "mousemove", "--window", win, str(x), str(y), "click", "1")
    time.sleep(0.5)


def type_text(s: str) -> None:
    sh("xdotool", "type", "--delay", "80", s)
    time.sleep(0.5)


def login(w: Wine, win: str, demo_json: Path, shots: Path, login_png: Path) -> bool:
    """Log in as the first demo office (IDs pre-filled by the app) with the passwords of
    demo.json. Field positions are those of the 1280×760 window (ui/login.rs layout, below
    the offices header of ui/offices.rs)."""
    try:
        o = json.loads(demo_json.read_text(encoding="utf-8"))["offices"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        check(False, "demo.json of the embedded demo relay", str(e))
        return False
    click(win, 620, 292)  # step 1: パスワード
    type_text(o["personal_password"])
    sh("xdotool", "key", "Return")
    time.sleep(6)
    click(win, 644, 314)  # step 2: 事業所パスワード
    type_text(o["office_password"])
    sh("xdotool", "key", "Return")
    time.sleep(8)
    top = shots / "windows-wine-top.png"
    screenshot(top, win)
    diff = sh("compare", "-metric", "AE", str(login_png), str(top), "null:")
    try:
        changed = float(diff.stderr.split()[0])
    except (ValueError, IndexError):
        changed = 0.0
    check(top.exists() and changed > 50_000,
          f"logged in; screenshot of the top page: {top.relative_to(ROOT)} "
          f"({changed:.0f} pixels differ from the login screen)")
    return top.exists() and changed > 50_000


def tray(w: Wine, app, win: str, title: str, shots: Path) -> None:
    """The notification-area icon (src/tray.rs): Shell_NotifyIcon took it; with a 送信フォルダ
    running, closing the window explains once and hides it there (the window is no longer
    shown); a second start brings it back (Visible(true) on a hidden window: the path
    eframe once lost on Windows, egui#5229)."""
    glog = plain((ROOT / "dist" / "windows-smoke-gui.log").read_text(errors="replace"))
    if not check("icon in the notification area" in glog,
                 "the icon is in the notification area (Shell_NotifyIcon)",
                 next((ln for ln in glog.splitlines() if "notification area" in ln), "no log line")):
        return
    outbox = w.c("outbox")
    outbox.mkdir(parents=True, exist_ok=True)
    click(win, 896, 52)    # 自動送受信
    click(win, 278, 162)   # 送信フォルダ
    type_text(w.cwin("outbox"))
    click(win, 70, 266)    # 自動送受信を開始
    time.sleep(3)
    # Alt+F4: Wine's DefWindowProc turns it into WM_CLOSE, as Windows does.
    sh("xdotool", "windowfocus", "--sync", win)
    sh("xdotool", "key", "--window", win, "alt+F4")
    time.sleep(3)
    ask = shots / "windows-wine-tray-close.png"
    screenshot(ask, win)
    click(win, 406, 448)   # 通知領域で続ける
    time.sleep(3)
    hidden = not find_windows(title)
    check(hidden and app.poll() is None,
          "closing while 自動送受信 runs hides the window in the notification area (the app runs on)",
          f"visible windows: {find_windows(title)}, app exit: {app.poll()}; see {ask.relative_to(ROOT)}")
    if not hidden:
        return
    with open(ROOT / "dist" / "windows-smoke-gui-third.log", "wb") as log3:
        third = w.popen("careplan.exe", [], stdout=log3, stderr=subprocess.STDOUT)
        try:
            third.wait(45)
        except subprocess.TimeoutExpired:
            os.killpg(third.pid, signal.SIGKILL)
    t0 = time.monotonic()
    while not find_windows(title) and time.monotonic() - t0 < 15:
        time.sleep(0.5)
    back = find_windows(title)
    check(bool(back), "a second start brings the hidden window back",
          f"no visible window after {time.monotonic() - t0:.0f} s")
    if back:
        time.sleep(2)
        screenshot(shots / "windows-wine-tray-back.png", back[0])


# ----- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="folder with careplan.exe")
    ap.add_argument("--prefix", type=Path, required=True)
    ap.add_argument("--setup", type=Path, help="the NSIS installer to test")
    ap.add_argument("--gui", action="store_true")
    ap.add_argument("--no-headless", action="store_true")
    ap.add_argument("--title", default="ケアプラン")
    ap.add_argument("--version", dest="version", default="0.1.0", help="expected version")
    ap.add_argument("--shots", type=Path, default=ROOT / "docs" / "screenshots")
    a = ap.parse_args()
    (ROOT / "dist").mkdir(exist_ok=True)
    w = Wine(a.prefix, a.out)
    note(f"Windows smoke test under {sh(w.loader, '--version').stdout.strip()}, "
         f"prefix {a.prefix}, LANG={w.env['LANG']}")
    check_exe(w)
    if not a.no_headless:
        headless(w, a.version)
    if a.setup:
        installer(w, a.setup)
    if a.gui:
        gui(w, a.shots, a.title)
    note(f"{len(failures)} failure(s)")
    (ROOT / "dist" / "windows-smoke.txt").write_text("\n".join(report) + "\n", encoding="utf-8")
    return min(len(failures), 100)


if __name__ == "__main__":
    sys.exit(main())
