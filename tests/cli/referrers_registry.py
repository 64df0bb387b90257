"""A test double of the OCI 1.1 referrers API, in front of a real ``docker-registry``.

Debian's docker-registry (distribution 2.8) stores manifests with a ``subject``
but has no referrers API: ``GET /v2/<name>/referrers/<digest>`` answers 404 (a
plain-text ``404 page not found``) and a manifest ``PUT`` carries no
``OCI-Subject`` header.  To test the path a registry *with* the API takes, this
loopback reverse proxy adds exactly that API and nothing else, as the
distribution spec 1.1 describes it ("Listing Referrers", "Pushing Manifests
with Subject"):

* every request is forwarded to the real registry, which stores and serves all
  content (``Location`` headers naming the upstream are rewritten to the proxy);
* a manifest ``PUT`` the registry accepted whose body has a ``subject`` is
  recorded (repository, subject digest → descriptor with ``artifactType`` or the
  config's media type, and the manifest's annotations) and answered with
  ``OCI-Subject: <subject digest>``;
* ``GET /v2/<name>/referrers/<digest>`` answers 200 with an OCI image index of
  the recorded referrers of that digest (an empty one when there are none), at
  most ``page_size`` per page with ``Link: <…>; rel="next"``, and with
  ``?artifactType=`` filters them and says so in ``OCI-Filters-Applied``.

Only manifests pushed through the proxy are known to it, as in a registry that
indexes on push.  ``referrer_requests`` counts the referrers API requests.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.reverse_proxy import ProxyHandler, ReverseProxy

_INDEX: Final = "application/vnd.oci.image.index.v1+json"


class _Handler(ProxyHandler):
    def _referrers(self, proxy: ReferrersRegistry, name: str, subject: str, query: str) -> None:
        params = parse_qs(query)
        wanted = params.get("artifactType", [None])[0]
        start = int(params.get("start", ["0"])[0])
        with proxy.lock:
            proxy.referrer_requests += 1
            listed = list(proxy.recorded[(name, subject)])
        headers = {"Content-Type": _INDEX, "Docker-Distribution-API-Version": "registry/2.0"}
        if wanted is not None:
            listed = [entry for entry in listed if entry.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        page = listed[start : start + proxy.page_size]
        if start + proxy.page_size < len(listed):
            following: dict[str, str] = {"start": str(start + proxy.page_size)}
            if wanted is not None:
                following["artifactType"] = wanted
            headers["Link"] = f'</v2/{name}/referrers/{subject}?{urlencode(following)}>; rel="next"'
        body = json.dumps({"schemaVersion": 2, "mediaType": _INDEX, "manifests": page}).encode()
        self.answer(200, headers.items(), body)

    def _handle(self) -> None:
        proxy: ReferrersRegistry = self.server.proxy  # type: ignore[attr-defined]
        body = self.read_body()
        parts = urlsplit(self.path)
        route = parts.path
        if self.command in ("GET", "HEAD") and "/referrers/" in route:
            name, _, subject = route.removeprefix("/v2/").rpartition("/referrers/")
            self._referrers(proxy, name, subject, parts.query)
            return
        upstream = proxy.forward(self.command, self.path, self.forwarded_headers(proxy), body)
        recorded = None
        if self.command == "PUT" and "/manifests/" in route and upstream.status_code == 201:
            recorded = proxy.record(route, body, self.headers.get("Content-Type", ""), upstream)
        self.relay(proxy, upstream, [] if recorded is None else [("OCI-Subject", recorded)])


class ReferrersRegistry(ReverseProxy):
    """The double; use as a context manager.  ``host`` (``127.0.0.1:PORT``) goes in image
    references, ``url`` is ``http://`` + host."""

    def __init__(self, upstream: str, *, page_size: int = 2) -> None:
        super().__init__(upstream, _Handler)
        self.page_size = page_size
        self.lock = threading.Lock()
        self.recorded: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.referrer_requests = 0

    def record(
        self, route: str, body: bytes, media_type: str, upstream: httpx.Response
    ) -> str | None:
        """Index a manifest the registry stored, if it has a subject; the subject digest."""
        try:
            document = json.loads(body)
        except ValueError:
            return None
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict):
            return None
        name = route.removeprefix("/v2/").rpartition("/manifests/")[0]
        entry: dict[str, Any] = {
            "mediaType": document.get("mediaType") or media_type,
            "digest": upstream.headers["Docker-Content-Digest"],
            "size": len(body),
        }
        artifact_type = document.get("artifactType") or (document.get("config") or {}).get(
            "mediaType"
        )
        if artifact_type:
            entry["artifactType"] = artifact_type
        if document.get("annotations"):
            entry["annotations"] = document["annotations"]
        with self.lock:
            known = self.recorded[(name, subject["digest"])]
            if all(existing["digest"] != entry["digest"] for existing in known):
                known.append(entry)
        return str(subject["digest"])
