"""A user module that fails while loading: the corpus checks optviz reports it in one line."""

raise RuntimeError("this module refuses to load")
