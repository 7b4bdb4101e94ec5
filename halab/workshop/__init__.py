"""For the instructor: the lab as a picture (diagram) and a Markdown report of the
verify runs of every lab (report)."""
