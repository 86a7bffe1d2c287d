"""CNCF distribution's storage layout, as paths relative to `docker/registry/v2/`.

Shared by every origin that stores content itself (a local directory, an S3 bucket), so a
registry:2 pointed at the same directory or bucket reads what ocicache wrote and back.
Names, tags and digests reaching here have been checked against the spec's grammar.
"""
from __future__ import annotations

from .. import errors
from ..errors import OCIError
from ..reference import Digest

ROOT = "docker/registry/v2"


def blob_data(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def repo(name: str) -> str:
    return f"repositories/{name}"


def layer_link(name: str, digest: Digest) -> str:
    return f"repositories/{name}/_layers/{digest.algorithm}/{digest.hex}/link"


def revision_link(name: str, digest: Digest) -> str:
    return f"repositories/{name}/_manifests/revisions/{digest.algorithm}/{digest.hex}/link"


def tags_dir(name: str) -> str:
    return f"repositories/{name}/_manifests/tags"


def tag_current_link(name: str, tag: str) -> str:
    return f"{tags_dir(name)}/{tag}/current/link"


def tag_index_link(name: str, tag: str, digest: Digest) -> str:
    return f"{tags_dir(name)}/{tag}/index/{digest.algorithm}/{digest.hex}/link"


def subject_dir(name: str, subject: Digest) -> str:
    return f"repositories/{name}/_refs/subjects/{subject.algorithm}/{subject.hex}"


def referrer_link(name: str, subject: Digest, referrer: Digest) -> str:
    return f"{subject_dir(name, subject)}/{referrer.algorithm}/{referrer.hex}/link"


def uploads_dir(upload_id: str) -> str:
    """Upload sessions of the S3 origin (distribution keeps them per repository; sessions
    here are found by id alone, from any node)."""
    return f"_uploads/{upload_id}"


def parse_link(data: bytes | None) -> Digest | None:
    """The digest a link object names; None if absent or damaged."""
    if data is None:
        return None
    try:
        return Digest.parse(data.decode("ascii", "replace").strip())
    except OCIError:
        return None


def manifest_unknown(repo: str, digest: Digest) -> OCIError:
    """The error for a revision a repository does not hold (every storing origin raises it)."""
    return OCIError(errors.MANIFEST_UNKNOWN, f"manifest {digest} is not in repository {repo}",
                    detail={"name": repo, "digest": str(digest)})


def tag_unknown(repo: str, tag: str) -> OCIError:
    """The error for a tag a repository does not have."""
    return OCIError(errors.MANIFEST_UNKNOWN, f"tag {tag!r} is not in repository {repo}; check the name "
                    f"(GET /v2/{repo}/tags/list lists its tags) or push that tag first",
                    detail={"name": repo, "tag": tag})
