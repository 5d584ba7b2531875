"""The archive: one searchable index of every analysed video of an output folder.

``OUT/archive.sqlite`` holds the videos, their events (full text searchable with FTS5) and a text
embedding of each event. The reports stay the source of truth: the index is rebuilt from them
(``veille index OUT``) and follows them (a re-analysed video replaces its rows).
"""

from __future__ import annotations

#: The index file, in the output folder beside ``index.json``.
INDEX_FILE = "archive.sqlite"
