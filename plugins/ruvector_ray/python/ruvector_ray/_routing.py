"""Which shard owns an id: a stable hash, the same in every process and on every node.

Python's ``hash()`` of a string changes from one process to the next (PYTHONHASHSEED), so a
row inserted by one worker and replaced by another would land on two shards. blake2b of the
UTF-8 bytes does not change, so an upsert repeated by a task retry, or by another worker,
lands on the same shard and replaces the row there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

#: the rule written into the manifest; a folder saved under another rule is not loaded
ROUTING = "blake2b-64-mod"


def shard_of(id: str, num_shards: int) -> int:
    """The shard that owns ``id``: the first 8 bytes of blake2b, little-endian, modulo ``num_shards``."""
    digest = hashlib.blake2b(id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def partition(ids: Sequence[str], num_shards: int) -> list[np.ndarray]:
    """Per shard, the positions in ``ids`` that it owns (in input order)."""
    owners = np.fromiter((shard_of(i, num_shards) for i in ids), dtype=np.int64, count=len(ids))
    return [np.flatnonzero(owners == shard) for shard in range(num_shards)]
