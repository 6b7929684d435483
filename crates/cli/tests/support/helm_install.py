#!/usr/bin/env python3
"""Install a Helm chart with the real Helm library against a small local Kubernetes API server.

No Kubernetes API server can run on this machine and no `helm` binary is packaged for it, but
PyPI's `helm-sdkpy` ships Helm itself (the Go library, built as a shared object). This script
serves the part of the Kubernetes API that `helm install` uses - discovery (`/version`, `/api`,
`/apis`, the group-version resource lists), the release secrets of Helm's storage driver, and
create/get of the chart's objects - checks each request against the documented API (path shape,
verb, JSON body whose kind, apiVersion and namespace match the path), and records what Helm
created. Unknown paths and malformed requests make the install fail, so a chart that only works
against a lenient server does not pass.

Usage: helm_install.py CHART RELEASE NAMESPACE [VALUES_JSON]
Prints a JSON object: {"objects": [...created objects...], "release": {...}, "lint": {...}}.
"""

import asyncio
import json
import os
import re
import sys
import tempfile
import threading
from urllib.parse import parse_qs
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What the server knows: group-version -> [(plural, kind, namespaced)].
RESOURCES = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("serviceaccounts", "ServiceAccount", True),
        ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True),
        ("services", "Service", True),
        ("pods", "Pod", True),
    ],
    "apps/v1": [
        ("daemonsets", "DaemonSet", True),
        ("deployments", "Deployment", True),
    ],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    "networking.k8s.io/v1": [
        ("networkpolicies", "NetworkPolicy", True),
    ],
    "policy/v1": [
        ("poddisruptionbudgets", "PodDisruptionBudget", True),
    ],
}

PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))"
    r"(?:/namespaces/(?P<ns>[a-z0-9-]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[a-z0-9.-]+))?$"
)


class Api:
    def __init__(self):
        self.objects = {}  # (gv, plural, ns, name) -> object
        self.created = []  # in creation order
        self.errors = []
        self.lock = threading.Lock()
        self.rv = 1

    def resource(self, gv, plural):
        for p, kind, namespaced in RESOURCES.get(gv, []):
            if p == plural:
                return kind, namespaced
        return None


def status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def discovery(path):
    if path == "/version":
        return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}
    if path == "/api":
        return 200, {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        groups = []
        for gv in RESOURCES:
            if "/" in gv:
                g, v = gv.split("/")
                ver = {"groupVersion": gv, "version": v}
                groups.append({"name": g, "versions": [ver], "preferredVersion": ver})
        return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    m = re.match(r"^/(?:api/(v1)|apis/([a-z0-9.-]+/v[0-9a-z]+))$", path)
    if m:
        gv = m.group(1) or m.group(2)
        if gv not in RESOURCES:
            return status(404, "NotFound", f"no group version {gv}")
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        res = [{"name": p, "singularName": "", "namespaced": n, "kind": k, "verbs": verbs}
               for p, k, n in RESOURCES[gv]]
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}
    return None


def fields(buf):
    """(number, wire type, value) of a protobuf message (varint and length-delimited fields)."""
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"protobuf wire type {wt} not expected in a Secret")
        out.append((num, wt, val))
    return out


def varint(buf, i):
    shift = val = 0
    while True:
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, i


def protobuf_secret(raw):
    """The Secret (apiVersion, kind, metadata name/namespace/labels) in a Kubernetes protobuf
    envelope: magic "k8s\\0", then runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind}, 2: raw}."""
    if not raw.startswith(b"k8s\x00"):
        raise ValueError("protobuf body without the k8s envelope magic")
    unknown = dict((n, v) for n, _, v in fields(raw[4:]))
    tm = dict((n, v.decode()) for n, _, v in fields(unknown.get(1, b"")))
    secret = dict((n, v) for n, w, v in fields(unknown.get(2, b"")) if w == 2)
    meta = {"labels": {}}
    for n, _, v in fields(secret.get(1, b"")):
        if n == 1:
            meta["name"] = v.decode()
        elif n == 3:
            meta["namespace"] = v.decode()
        elif n == 11:
            entry = dict((k, val.decode()) for k, _, val in fields(v))
            meta["labels"][entry.get(1, "")] = entry.get(2, "")
    return {"apiVersion": tm.get(1), "kind": tm.get(2), "metadata": meta, "type": "helm.sh/release.v1"}


def handler_for(api):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def fail(self, code, reason, message):
            with api.lock:
                api.errors.append(f"{self.command} {self.path}: {message}")
            self.reply(*status(code, reason, message))

        def body(self, kind):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/vnd.kubernetes.protobuf") and kind == "Secret":
                # Helm's release storage writes Secrets with client-go's typed client, which speaks
                # protobuf; only the object's metadata is needed here.
                return protobuf_secret(raw)
            if not ctype.startswith("application/json"):
                raise ValueError(f"content type {ctype!r}, expected application/json")
            return json.loads(raw)

        def route(self):
            path, _, query = self.path.partition("?")
            found = discovery(path)
            if found:
                return self.reply(*found)
            m = PATH.match(path)
            if not m:
                return self.fail(404, "NotFound", f"no such path {path}")
            gv = m["core"] or f"{m['group']}/{m['version']}"
            res = api.resource(gv, m["plural"])
            if res is None:
                return self.fail(404, "NotFound", f"no resource {m['plural']} in {gv}")
            kind, namespaced = res
            ns, name = m["ns"], m["name"]
            if namespaced != (ns is not None) and not (self.command == "GET" and name is None):
                return self.fail(400, "BadRequest", f"{kind} is {'' if namespaced else 'not '}namespaced")
            key = (gv, m["plural"], ns, name)
            if self.command == "GET" and name is None:
                selector = parse_qs(query).get("labelSelector", [""])[0]
                sel = dict(kv.split("=", 1) for kv in selector.split(",") if "=" in kv)
                with api.lock:
                    items = [o for (g, p, n, _), o in api.objects.items()
                             if g == gv and p == m["plural"] and (ns is None or n == ns)
                             and all(o["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
                return self.reply(200, {"kind": kind + "List", "apiVersion": gv,
                                        "metadata": {"resourceVersion": str(api.rv)}, "items": items})
            if self.command == "GET":
                with api.lock:
                    obj = api.objects.get(key)
                if obj is None:
                    return self.reply(*status(404, "NotFound", f'{m["plural"]} "{name}" not found'))
                return self.reply(200, obj)
            if self.command in ("POST", "PUT"):
                try:
                    obj = self.body(kind)
                except ValueError as e:
                    return self.fail(415, "UnsupportedMediaType", str(e))
                if obj.get("kind") != kind or obj.get("apiVersion") != gv:
                    return self.fail(400, "BadRequest",
                                     f"body is {obj.get('apiVersion')}/{obj.get('kind')}, path is {gv}/{kind}")
                meta = obj.setdefault("metadata", {})
                if namespaced and (meta.get("namespace") or ns) != ns:
                    return self.fail(400, "BadRequest", f"namespace {meta.get('namespace')} in body, {ns} in path")
                oname = meta.get("name")
                if not oname or (self.command == "PUT" and oname != name) or (self.command == "POST" and name):
                    return self.fail(400, "BadRequest", f"bad name {oname!r} for {self.command} {path}")
                if namespaced:
                    meta["namespace"] = ns
                okey = (gv, m["plural"], ns, oname)
                with api.lock:
                    if self.command == "POST" and okey in api.objects:
                        return self.reply(*status(409, "AlreadyExists", f"{oname} exists"))
                    if self.command == "PUT" and okey not in api.objects:
                        return self.reply(*status(404, "NotFound", f"{oname} not found"))
                    api.rv += 1
                    meta["resourceVersion"] = str(api.rv)
                    meta.setdefault("uid", f"00000000-0000-0000-0000-{api.rv:012d}")
                    api.objects[okey] = obj
                    # Helm's own release records (secrets labelled owner=helm) are not the chart's.
                    if self.command == "POST" and meta.get("labels", {}).get("owner") != "helm":
                        api.created.append(obj)
                return self.reply(201 if self.command == "POST" else 200, obj)
            return self.fail(405, "MethodNotAllowed", f"{self.command} not served")

        do_GET = do_POST = do_PUT = route

        def do_PATCH(self):
            self.fail(405, "MethodNotAllowed", "PATCH not served (client-side install creates)")

        do_DELETE = do_PATCH

    return H


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    chart, release, namespace = sys.argv[1:4]
    values = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    import helm_sdkpy

    api = Api()
    api.objects[("v1", "namespaces", None, namespace)] = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(api))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as d:
        kubeconfig = os.path.join(d, "config")
        with open(kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: local, cluster: {{server: "http://127.0.0.1:{server.server_port}"}}}}]
users: [{{name: local, user: {{token: test-only}}}}]
contexts: [{{name: local, context: {{cluster: local, user: local, namespace: {namespace}}}}}]
current-context: local
""")
        cfg = helm_sdkpy.Configuration(namespace=namespace, kubeconfig=kubeconfig)
        lint = asyncio.run(helm_sdkpy.Lint(cfg).run(chart))
        try:
            rel = asyncio.run(helm_sdkpy.Install(cfg).run(release, chart, values=values, wait=False, timeout=60))
        except Exception as e:  # the install's own error, plus what the server refused
            print(json.dumps({"error": str(e), "server_errors": api.errors, "lint": lint}))
            sys.exit(1)
    server.shutdown()
    out = {"objects": api.created, "server_errors": api.errors, "lint": lint,
           "release": {k: rel.get(k) for k in ("name", "namespace", "version", "status") if k in rel}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
