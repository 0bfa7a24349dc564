"""Parses natrium's /metrics with Prometheus' own text-format parser and checks the values
against /varz and /connz. Usage: metrics_check.py http://127.0.0.1:<monitor port>
Prints OK and exits 0 when everything matches."""

import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def main(base):
    ctype, text = fetch(base + "/metrics")
    _, varz_text = fetch(base + "/varz")
    _, connz_text = fetch(base + "/connz")
    varz, connz = json.loads(varz_text), json.loads(connz_text)
    problems = []
    if not ctype.startswith("text/plain; version=0.0.4"):
        problems.append("content type " + ctype)

    samples, families = {}, {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
        for s in fam.samples:
            samples.setdefault(s.name, []).append(s)

    def one(name):
        got = samples.get(name, [])
        if len(got) != 1:
            problems.append("%s: %d samples" % (name, len(got)))
            return None
        if got[0].labels.get("server_id") != varz["server_id"]:
            problems.append("%s: server_id label %r" % (name, got[0].labels))
        return got[0].value

    # Every numeric top-level /varz field, under the exporter's gnatsd_varz_ name, equal.
    stable = ["connections", "total_connections", "in_msgs", "in_bytes", "out_msgs",
              "out_bytes", "in_client_msgs", "out_client_msgs", "subscriptions",
              "slow_consumers", "stale_connections", "max_payload", "max_connections",
              "ping_interval", "ping_max", "port", "http_port", "auth_timeout",
              "max_control_line", "max_pending", "write_deadline", "cores", "routes"]
    for key, value in varz.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            got = one("gnatsd_varz_" + key)
            if key in stable and got != value:
                problems.append("gnatsd_varz_%s = %r, /varz %s = %r" % (key, got, key, value))
    for key in ["server_id", "server_name", "version"]:
        s = samples.get("gnatsd_varz_" + key, [])
        if len(s) != 1 or s[0].labels.get("value") != varz[key] or s[0].value != 1:
            problems.append("gnatsd_varz_%s label gauge: %r" % (key, s))
    if varz["in_msgs"] <= 0:
        problems.append("no traffic before the check")

    # connz totals.
    conns = connz["connections"]
    for name, want in [
        ("gnatsd_connz_num_connections", connz["num_connections"]),
        ("gnatsd_connz_total", connz["total"]),
        ("gnatsd_connz_subscriptions", sum(c["subscriptions"] for c in conns)),
        ("gnatsd_connz_in_msgs", sum(c["in_msgs"] for c in conns)),
        ("gnatsd_connz_out_bytes", sum(c["out_bytes"] for c in conns)),
    ]:
        got = one(name)
        if got != want:
            problems.append("%s = %r, want %r" % (name, got, want))
    if one("gnatsd_subsz_num_subscriptions") != varz["subscriptions"]:
        problems.append("gnatsd_subsz_num_subscriptions differs from /varz subscriptions")
    if one("gnatsd_healthz_status") != 0:
        problems.append("gnatsd_healthz_status is not 0")

    # Per-reactor metrics: one sample per reactor, summing to the /varz totals.
    reactors = one("natrium_reactors")
    for name, total in [("natrium_reactor_in_msgs_total", varz["in_msgs"]),
                        ("natrium_reactor_out_bytes_total", varz["out_bytes"]),
                        ("natrium_reactor_subscriptions", varz["subscriptions"])]:
        got = samples.get(name, [])
        if len(got) != reactors or sorted(s.labels["reactor"] for s in got) != [str(i) for i in range(int(reactors or 0))]:
            problems.append("%s: samples %r" % (name, got))
        elif sum(s.value for s in got) != total:
            problems.append("%s sums to %r, /varz says %r" % (name, sum(s.value for s in got), total))
    for name in ["natrium_reactor_polls_total", "natrium_reactor_events_total",
                 "natrium_reactor_routed_out_total", "natrium_reactor_routed_in_total",
                 "natrium_reactor_events_per_poll", "natrium_reactor_connections"]:
        if len(samples.get(name, [])) != reactors:
            problems.append("%s: %d samples" % (name, len(samples.get(name, []))))
    if families.get("natrium_reactor_polls", None) is None or families["natrium_reactor_polls"].type != "counter":
        problems.append("natrium_reactor_polls is not a counter family")
    if families["gnatsd_varz_in_msgs"].type != "gauge":
        problems.append("gnatsd_varz_in_msgs is not a gauge (the exporter's type)")
    for fam in families.values():
        if not fam.documentation:
            problems.append("%s has no HELP" % fam.name)

    if problems:
        print("\n".join(problems))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/")))
