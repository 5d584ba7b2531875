"""``veille serve``: an output folder's archive in the browser (timeline, search, ask, review marks)."""
