#!/usr/bin/env python3
"""A stand-in for a desktop panel's tray, to look at the app's tray icon without a desktop
(under Xvfb): a StatusNotifierWatcher on the session bus, and the calls a panel makes.

    pip install dbus-next
    eval $(dbus-launch --sh-syntax)    # or: dbus-daemon --session --fork --print-address
    scripts/sni-panel.py serve &       # the watcher; prints each item that registers
    scripts/sni-panel.py state         # the item's status, tooltip and menu
    scripts/sni-panel.py menu 受信一覧  # click a menu entry
    scripts/sni-panel.py activate      # click the icon
    scripts/sni-panel.py icon out.png  # the icon as the panel draws it (needs ImageMagick)

The same calls are made by crates/careplan-app/tests/app_tray.rs (in Rust, in CI).
"""
import asyncio
import os
import subprocess
import sys

from dbus_next import Variant
from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, dbus_property, method, PropertyAccess

STATE = os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "sni-panel-items")


class Watcher(ServiceInterface):
    def __init__(self):
        super().__init__("org.kde.StatusNotifierWatcher")
        self.items = []

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):
        self.items.append(service)
        with open(STATE, "w") as f:
            f.write(service + "\n")
        print("registered:", service, flush=True)

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":
        return self.items

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":
        return 0


async def serve():
    bus = await MessageBus().connect()
    bus.export("/StatusNotifierWatcher", Watcher())
    await bus.request_name("org.kde.StatusNotifierWatcher")
    print("watcher up", flush=True)
    await asyncio.Future()


async def interface(bus, name, path, iface):
    intro = await bus.introspect(name, path)
    return bus.get_proxy_object(name, path, intro).get_interface(iface)


async def client(cmd, args):
    bus = await MessageBus().connect()
    name = open(STATE).read().strip()
    item = await interface(bus, name, "/StatusNotifierItem", "org.kde.StatusNotifierItem")
    menu = await interface(bus, name, "/MenuBar", "com.canonical.dbusmenu")
    if cmd == "state":
        print("Status:", await item.get_status())
        tip = await item.get_tool_tip()
        print("ToolTip:", tip[2], "/", tip[3].replace("\n", " | "))
        for id_, props in await menu.call_get_group_properties([], ["label"]):
            if "label" in props:
                print("menu", id_, props["label"].value)
    elif cmd == "menu":
        for id_, props in await menu.call_get_group_properties([], ["label"]):
            if "label" in props and props["label"].value == args[0]:
                await menu.call_event(id_, "clicked", Variant("i", 0), 0)
                return
        sys.exit(f"no menu entry {args[0]}")
    elif cmd == "activate":
        await item.call_activate(0, 0)
    elif cmd == "icon":
        status = await item.get_status()
        pixmaps = await (item.get_attention_icon_pixmap() if status == "NeedsAttention"
                         else item.get_icon_pixmap())
        w, h, argb = pixmaps[0]
        rgba = bytearray()
        for i in range(0, len(argb), 4):
            a, r, g, b = argb[i:i + 4]
            rgba += bytes([r, g, b, a])
        subprocess.run(["convert", "-size", f"{w}x{h}", "-depth", "8", "rgba:-",
                        "-scale", "400%", args[0]], input=bytes(rgba), check=True)
    else:
        sys.exit(__doc__)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "serve":
        asyncio.run(serve())
    else:
        asyncio.run(client(sys.argv[1], sys.argv[2:]))


if __name__ == "__main__":
    main()
