"""Points a collector configuration at loopback without editing it.

    overlay.py CONFIG GRPC-PORT HTTP-PORT [TARGET...] > overlay.yaml

Prints a second configuration for `--config CONFIG --config overlay.yaml` (the
collector merges them, the later one winning key by key):

- each protocol of the `otlp` receiver listens on 127.0.0.1 (gRPC on GRPC-PORT,
  HTTP on HTTP-PORT) instead of the example's address;
- each `otlp` exporter sends to the one TARGET (host:port);
- each `loadbalancing` exporter's resolver is a static list of every TARGET
  instead of DNS or Kubernetes names (those set to null, the merge removes them);
- the collector's own metrics are off (by default they listen on port 8888,
  which two collectors cannot share).

On stderr, one line `protocols: grpc http` (those the receiver has). An
exporter it cannot point anywhere is an error naming it.
"""

import sys

import yaml

RESOLVERS = ("static", "dns", "k8s", "aws_cloud_map")


def kind(name):
    """`otlp/jaeger` -> `otlp`."""
    return name.split("/", 1)[0]


def fail(message):
    sys.exit(f"{sys.argv[1]}: {message}")


def main():
    config_path, grpc, http, *targets = sys.argv[1:]
    with open(config_path) as f:
        config = yaml.safe_load(f) or {}
    targets = [t.split("://", 1)[-1] for t in targets]

    receivers = {}
    otlp = [n for n in config.get("receivers") or {} if kind(n) == "otlp"]
    if len(otlp) != 1:
        fail(f"needs exactly one otlp receiver, has {len(otlp)}")
    protocols = (config["receivers"][otlp[0]] or {}).get("protocols") or {}
    ports = {"grpc": grpc, "http": http}
    unknown = set(protocols) - set(ports)
    if unknown:
        fail(f"receiver {otlp[0]}: unknown protocols {sorted(unknown)}")
    receivers[otlp[0]] = {
        "protocols": {p: {"endpoint": f"127.0.0.1:{ports[p]}"} for p in protocols}
    }

    exporters = {}
    for name, settings in (config.get("exporters") or {}).items():
        if kind(name) in ("otlp", "otlp_grpc"):
            if len(targets) != 1:
                fail(f"exporter {name} sends to one endpoint; {len(targets)} targets given")
            exporters[name] = {"endpoint": targets[0]}
        elif kind(name) in ("loadbalancing", "load_balancing"):
            if not targets:
                fail(f"exporter {name} needs the backends' endpoints as targets")
            present = (settings or {}).get("resolver") or {}
            resolver = {r: None for r in RESOLVERS if r in present}
            resolver["static"] = {"hostnames": targets}
            exporters[name] = {"resolver": resolver}
        elif kind(name) != "debug":
            fail(f"exporter {name}: cannot point it at loopback")

    overlay = {
        "receivers": receivers,
        "service": {"telemetry": {"metrics": {"level": "none"}}},
    }
    if exporters:
        overlay["exporters"] = exporters
    yaml.safe_dump(overlay, sys.stdout, sort_keys=False)
    print("protocols:", " ".join(protocols), file=sys.stderr)


if __name__ == "__main__":
    main()
