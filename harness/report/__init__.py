"""What a run leaves behind: HTML and Markdown reports of campaigns and benchmarks, JUnit XML,
and text made safe for a terminal."""
