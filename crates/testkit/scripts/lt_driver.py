#!/usr/bin/python3
"""A line-oriented JSON driver for python-libtorrent, used by shoal-testkit.

Usage: lt_driver.py CONFIG_JSON

CONFIG_JSON is one JSON object: {"addr": "127.0.0.x", "port": N, "utp": bool,
"settings": {...extra settings_pack entries...}}.

Protocol: the driver prints exactly one line {"event": "ready", "port": N} once the
TCP listen socket is up (or {"event": "fatal", "error": "..."} and exits 2). After
that, every line read on stdin is one JSON command and gets exactly one JSON reply
line on stdout: {"ok": true, ...} or {"ok": false, "error": "..."}. Alerts are logged
to stderr. End of stdin means quit, so the driver never outlives its parent's pipe.

Everything that could reach beyond loopback is off before the session starts:
the session is constructed with the final settings, never with the defaults
(whose DHT bootstrap node, UPnP, NAT-PMP and LSD would all fire at once).
"""

import json
import os
import select
import sys
import time

import libtorrent as lt

ALERT_MASK = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.tracker_notification
    | lt.alert.category_t.storage_notification
    | lt.alert.category_t.connect_notification
    | lt.alert.category_t.dht_notification
    | lt.alert.category_t.dht_operation_notification
)


def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.time(), msg))
    sys.stderr.flush()


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def base_settings(cfg):
    addr = cfg["addr"]
    port = int(cfg["port"])
    utp = bool(cfg.get("utp", False))
    s = {
        "listen_interfaces": "%s:%d" % (addr, port),
        "outgoing_interfaces": addr,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": utp,
        "enable_incoming_utp": utp,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "alert_mask": ALERT_MASK,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
    }
    s.update(cfg.get("settings", {}))
    return s


class Driver:
    def __init__(self, cfg):
        self.cfg = cfg
        self.session = lt.session(base_settings(cfg))
        self.handles = {}  # info-hash hex (v1) -> torrent_handle
        self.dht_peers = {}  # info-hash hex -> set of "ip:port" from dht_get_peers lookups

    def wait_listening(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.session.wait_for_alert(100)
            for a in self.session.pop_alerts():
                log("alert %s: %s" % (a.what(), a.message()))
                if isinstance(a, lt.listen_succeeded_alert):
                    if a.socket_type == lt.socket_type_t.tcp:
                        return a.port
                if isinstance(a, lt.listen_failed_alert):
                    raise RuntimeError("listen failed: %s" % a.message())
        raise RuntimeError("no listen_succeeded alert within %ss" % timeout)

    def drain_alerts(self):
        for a in self.session.pop_alerts():
            log("alert %s: %s" % (a.what(), a.message()))
            if isinstance(a, lt.dht_get_peers_reply_alert):
                found = self.dht_peers.setdefault(str(a.info_hash), set())
                for ip, port in a.peers():
                    found.add("%s:%d" % (ip, port))

    def torrent_flags(self, cmd):
        flags = lt.torrent_flags.default_flags
        flags &= ~lt.torrent_flags.auto_managed
        flags &= ~lt.torrent_flags.paused
        if not cmd.get("pex", False):
            flags |= lt.torrent_flags.disable_pex
        if not cmd.get("lsd", False):
            flags |= lt.torrent_flags.disable_lsd
        if not cmd.get("dht", False):
            flags |= lt.torrent_flags.disable_dht
        if cmd.get("seed_mode", False):
            flags |= lt.torrent_flags.seed_mode
        return flags

    def handle(self, cmd):
        key = cmd.get("info_hash", "")
        h = self.handles.get(key)
        if h is None:
            raise KeyError("unknown torrent %s" % key)
        return h

    def cmd_add(self, cmd):
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(cmd["torrent"])
        p.save_path = cmd["save_path"]
        p.flags = self.torrent_flags(cmd)
        h = self.session.add_torrent(p)
        key = str(h.info_hashes().v1)
        self.handles[key] = h
        return {"info_hash": key}

    def cmd_add_magnet(self, cmd):
        p = lt.parse_magnet_uri(cmd["uri"])
        p.save_path = cmd["save_path"]
        p.flags = self.torrent_flags(cmd)
        h = self.session.add_torrent(p)
        key = str(h.info_hashes().v1)
        self.handles[key] = h
        return {"info_hash": key}

    def cmd_connect_peer(self, cmd):
        self.handle(cmd).connect_peer((cmd["ip"], int(cmd["port"])))
        return {}

    def cmd_status(self, cmd):
        h = self.handle(cmd)
        st = h.status()
        peers = []
        for p in h.get_peer_info():
            peers.append(
                {
                    "ip": p.ip[0],
                    "port": p.ip[1],
                    "client": p.client.decode("utf-8", "replace")
                    if isinstance(p.client, bytes)
                    else str(p.client),
                    "total_download": p.total_download,
                    "total_upload": p.total_upload,
                    "progress": p.progress,
                    "seed": bool(p.flags & lt.peer_info.seed),
                    "outgoing": bool(p.flags & lt.peer_info.outgoing_connection),
                }
            )
        return {
            "state": str(st.state),
            "has_metadata": st.has_metadata,
            "progress": st.progress,
            "total_wanted": st.total_wanted,
            "total_wanted_done": st.total_wanted_done,
            "is_seeding": st.is_seeding,
            "is_finished": st.is_finished,
            "num_peers": st.num_peers,
            "total_payload_download": st.total_payload_download,
            "total_payload_upload": st.total_payload_upload,
            "all_time_download": st.all_time_download,
            "all_time_upload": st.all_time_upload,
            "error": str(st.errc.message()) if st.errc.value() != 0 else "",
            "peers": peers,
        }

    def cmd_apply_settings(self, cmd):
        self.session.apply_settings(cmd["settings"])
        return {}

    def cmd_enable_dht(self, cmd):
        # The entry points are added as plain nodes, not as dht_bootstrap_nodes: libtorrent
        # never puts a "router" into its routing table, so a loopback network in which every
        # node is the others' router keeps empty tables forever.
        nodes = cmd.get("nodes", [])
        self.session.apply_settings(
            {
                "enable_dht": True,
                "dht_bootstrap_nodes": "",
                "dht_restrict_routing_ips": False,
                "dht_restrict_search_ips": False,
                "dht_prefer_verified_node_ids": False,
                "dht_ignore_dark_internet": False,
            }
        )
        for n in nodes:
            host, _, port = n.rpartition(":")
            self.session.add_dht_node((host, int(port)))
        return {}

    def cmd_dht_status(self, cmd):
        return {"nodes": self.session.status().dht_nodes}

    def cmd_dht_get_peers(self, cmd):
        self.session.dht_get_peers(lt.sha1_hash(bytes.fromhex(cmd["info_hash"])))
        return {}

    def cmd_dht_peers(self, cmd):
        self.drain_alerts()
        return {"peers": sorted(self.dht_peers.get(cmd["info_hash"], set()))}

    def cmd_force_dht_announce(self, cmd):
        self.handle(cmd).force_dht_announce()
        return {}

    def cmd_force_reannounce(self, cmd):
        self.handle(cmd).force_reannounce()
        return {}

    def cmd_remove(self, cmd):
        h = self.handle(cmd)
        self.session.remove_torrent(h)
        del self.handles[cmd["info_hash"]]
        return {}

    def dispatch(self, line):
        try:
            cmd = json.loads(line)
            name = cmd.get("cmd", "")
            if name == "quit":
                reply({"ok": True})
                return False
            fn = getattr(self, "cmd_" + name, None)
            if fn is None:
                raise ValueError("unknown command %r" % name)
            out = fn(cmd)
            out["ok"] = True
            reply(out)
        except Exception as e:  # every failure becomes a reply, never a dead driver
            reply({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        return True

    def run(self):
        fd = sys.stdin.fileno()
        buf = b""
        while True:
            readable, _, _ = select.select([fd], [], [], 0.1)
            self.drain_alerts()
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip() and not self.dispatch(line.decode("utf-8")):
                    return


def main():
    cfg = json.loads(sys.argv[1])
    try:
        driver = Driver(cfg)
        port = driver.wait_listening(10.0)
    except Exception as e:
        reply({"event": "fatal", "error": "%s: %s" % (type(e).__name__, e)})
        sys.exit(2)
    reply({"event": "ready", "port": port})
    driver.run()


if __name__ == "__main__":
    main()
