"""Docker image names for flows: always a valid reference, distinct for distinct names.

``<prefix>-<project>-<flow>`` in lower-case ASCII letters, digits and ``-``.
Names are transliterated (``ä`` -> ``a``); when that loses anything (case,
punctuation, letters with no ASCII form, a name cut to fit), a short hash of
the names as given is added, so ``fof-ä``, ``fof-ö`` and ``FOF_Ö`` get three
images, and a name with no ASCII letter at all still gets a valid one.

Distinct (project, flow) pairs get distinct names. ``-`` joins the parts, so a
name is read back unambiguously only when the project is one word: without a
hash, ``("rel-y", "x")`` and ``("rel", "y-x")`` would both be
``lume-flow-rel-y-x``. So the hash is added too when the project has a ``-``,
and, with no project, when the flow has one (``lume-flow-y-x`` could be project
``y``'s flow ``x``). Names with a one-word project stay readable:
``lume-flow-examples-save-text``.
"""

import hashlib
import re
import unicodedata
from typing import Optional

#: Docker allows longer repository names; this leaves room for a registry and a tag.
MAX_LENGTH = 120
_HASH_LENGTH = 8


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def image_name(flow_name: str, project_name: Optional[str] = None, prefix: str = "lume-flow") -> str:
    """The image name (no registry, no tag) of a flow: ``<prefix>-<project>-<flow>[-<hash>]``.

    The name has no ``/``, so a Prefect ``DockerAgent`` does not try to pull it.
    """
    parts = [p for p in (prefix, project_name or "", flow_name) if p]
    slugs = [_slug(p) for p in parts]
    name = "-".join(s for s in slugs if s)
    # the one part whose end must be findable: the project, or the flow when there is no project
    first = project_name if project_name else flow_name
    lossless = all(s == p for s, p in zip(slugs, parts)) and len(name) <= MAX_LENGTH and "-" not in first
    if lossless:
        return name
    digest = hashlib.sha256("\0".join([project_name or "", flow_name]).encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[:MAX_LENGTH - _HASH_LENGTH - 1].rstrip('-')}-{digest}"
