"""Listing a repository's tags, page by page.

Spec: the OCI distribution spec, ``spec.md`` "Listing Tags": ``GET
/v2/<name>/tags/list?n=<page_size>``, following ``Link: <…>; rel="next"``
(relative links are resolved against the page's URL; a link seen before ends
the walk).  Each page is read whole, up to the manifest size limit.
"""

from __future__ import annotations

from typing import Final

import httpx
from returns.result import Failure, Result, Success

from imgpkg_pure.reference import Repository
from imgpkg_pure.registry_wire import parse_link_next, parse_tag_list
from imgpkg_pure.store.registry._http import read_body, repository_call
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.errors import RegistryError
from imgpkg_pure.store.registry.manifests import MAX_MANIFEST_SIZE

__all__ = ["DEFAULT_TAG_PAGE_SIZE", "list_tags"]

#: ``n`` for tag listing (imgpkg asks for 1000).
DEFAULT_TAG_PAGE_SIZE: Final = 1000


def list_tags(
    session: Session,
    repo: Repository,
    page_size: int = DEFAULT_TAG_PAGE_SIZE,
    *,
    max_pages: int | None = None,
) -> Result[tuple[str, ...] | None, RegistryError]:
    """Every tag of ``repo``, in the registry's order, following the pages; None when
    there are more than ``max_pages`` pages (only then: a caller that gives no bound
    always gets the tags)."""
    tags: list[str] = []
    target: str | None = f"/v2/{repo.repository}/tags/list?n={page_size}"
    seen: set[str] = set()
    while target is not None and target not in seen:
        if max_pages is not None and len(seen) >= max_pages:
            return Success(None)
        seen.add(target)
        sent = session.call(repository_call(repo, "GET", target), (200,))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        link = response.headers.get("Link", "")
        page_url = str(response.request.url)
        body = read_body(response, MAX_MANIFEST_SIZE)
        if not isinstance(body, Success):
            return Failure(body.failure())
        page = parse_tag_list(body.unwrap(), f"tag list of {repo}")
        if not isinstance(page, Success):
            return Failure(page.failure())
        tags.extend(page.unwrap())
        following = parse_link_next(link) if link else None
        target = str(httpx.URL(page_url).join(following)) if following else None
    return Success(tuple(tags))
