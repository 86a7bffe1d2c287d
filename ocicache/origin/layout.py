"""CNCF distribution's storage layout, as paths relative to `docker/registry/v2/`: the one
place that knows it. Used by the directory origin (fs.py), the S3 origin (s3.py, s3uploads.py)
and garbage collection (registry/gc.py), so a registry:2 pointed at the same directory or
bucket reads what ocicache wrote and back.

    blobs/<alg>/<hex[:2]>/<hex>/data
    repositories/<name>/_layers/<alg>/<hex>/link
    repositories/<name>/_manifests/revisions/<alg>/<hex>/link
    repositories/<name>/_manifests/tags/<tag>/current/link
    repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
    repositories/<name>/_refs/subjects/<alg>/<subject hex>/<alg>/<hex>/link
    _uploads/<id>/...                                   (S3 upload sessions, ocicache's own)

and ocicache's own objects beside `docker/` (relative to the origin's root, where a
registry:2 never looks):

    _ocicache/purges/<ms since epoch>-<random>.json    the purge journal (cache/journal.py)
    _ocicache/listings.sqlite                          the directory origin's ordered index of
                                                       repositories and tags (origin/listindex.py)
    _ocicache/listings/repositories/<name>             the S3 origin's: one empty object per
    _ocicache/listings/tags/<name>/_tags/<tag>         repository and tag, so a LIST with StartAfter
    _ocicache/listings/built                           reads a page in order (origin/s3listings.py)

Names, tags and digests reaching here have been checked against the spec's grammar.
"""
from __future__ import annotations

from .. import errors
from ..errors import OCIError
from ..reference import Digest

ROOT = "docker/registry/v2"
BLOBS = "blobs"
REPOSITORIES = "repositories"
UPLOADS = "_uploads"
MANIFESTS = "_manifests"
# glob patterns, relative to a repository's _manifests/ (gc) and to blobs/ and repositories/
REVISION_LINKS = "revisions/*/*/link"
TAG_CURRENT_LINKS = "tags/*/current/link"
TAG_INDEX_LINKS = "tags/*/index/*/*/link"
BLOB_DATA_FILES = "*/*/*/data"
LAYER_LINKS = "_layers/*/*/link"
PURGES = "_ocicache/purges"  # relative to the origin's root (the bucket prefix, the directory)
LISTINGS = "_ocicache/listings.sqlite"  # relative to the directory origin's root
BUCKET_LISTINGS = "_ocicache/listings"  # relative to the S3 origin's prefix
LISTED_REPOSITORIES = f"{BUCKET_LISTINGS}/repositories/"
LISTINGS_BUILT = f"{BUCKET_LISTINGS}/built"


def listed_tags(name: str) -> str:
    """The prefix of a repository's tag entries: a name component never starts with '_', so
    no other repository's entries share it, and a key is the prefix and the tag alone."""
    return f"{BUCKET_LISTINGS}/tags/{name}/_tags/"


def tag_of(key: str) -> tuple[str, str] | None:
    """(repository, tag) of a key under repositories/ that is a tag's current link."""
    head, marker, tail = key.rpartition(f"/{MANIFESTS}/tags/")
    tag, slash, rest = tail.partition("/")
    if not (marker and slash and rest == "current/link" and head.startswith(f"{REPOSITORIES}/")):
        return None
    return head[len(REPOSITORIES) + 1:], tag


def blob_data(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def repo(name: str) -> str:
    return f"repositories/{name}"


def manifests_dir(name: str) -> str:
    return f"repositories/{name}/{MANIFESTS}"


def layers_dir(name: str, digest: Digest) -> str:
    """The folder of one layer link (gc removes it whole)."""
    return f"repositories/{name}/_layers/{digest.algorithm}/{digest.hex}"


def blob_digest(data_path_parts: tuple[str, ...]) -> Digest:
    """The digest of a blobs/<alg>/<hex[:2]>/<hex>/data path, from its last four parts."""
    algorithm, _prefix, hexdigest, _data = data_path_parts[-4:]
    return Digest(algorithm, hexdigest)


def repository_of(key: str) -> str | None:
    """The repository a key under repositories/ belongs to, if it is one of its manifests'."""
    marker = f"/{MANIFESTS}/"
    return key.split(marker)[0] if marker in key else None


def layer_link(name: str, digest: Digest) -> str:
    return f"repositories/{name}/_layers/{digest.algorithm}/{digest.hex}/link"


def revision_link(name: str, digest: Digest) -> str:
    return f"repositories/{name}/_manifests/revisions/{digest.algorithm}/{digest.hex}/link"


def tags_dir(name: str) -> str:
    return f"repositories/{name}/_manifests/tags"


def tag_dir(name: str, tag: str) -> str:
    return f"{tags_dir(name)}/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    return f"{tag_dir(name, tag)}/current/link"


def tag_index_link(name: str, tag: str, digest: Digest) -> str:
    return f"{tags_dir(name)}/{tag}/index/{digest.algorithm}/{digest.hex}/link"


def subject_dir(name: str, subject: Digest) -> str:
    return f"repositories/{name}/_refs/subjects/{subject.algorithm}/{subject.hex}"


def referrers_dir(name: str, subject: Digest, algorithm: str) -> str:
    """The folder of a subject's referrers of one digest algorithm (one folder per referrer hex)."""
    return f"{subject_dir(name, subject)}/{algorithm}"


def referrer_link(name: str, subject: Digest, referrer: Digest) -> str:
    return f"{subject_dir(name, subject)}/{referrer.algorithm}/{referrer.hex}/link"


def uploads_dir(upload_id: str) -> str:
    """Upload sessions of the S3 origin (distribution keeps them per repository; sessions
    here are found by id alone, from any node)."""
    return f"{UPLOADS}/{upload_id}"


def purge_entry(at: float, nonce: str) -> str:
    """The name of a purge journal entry written at `at` (epoch seconds): names sort by time."""
    return f"{int(at * 1000):013d}-{nonce}.json"


def purge_entry_time(name: str) -> float | None:
    """When a purge journal entry was written (epoch seconds); None for a name not ours."""
    stamp, dash, rest = name.partition("-")
    if not (dash and stamp.isdigit() and len(stamp) == 13 and rest.endswith(".json")):
        return None
    return int(stamp) / 1000


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
