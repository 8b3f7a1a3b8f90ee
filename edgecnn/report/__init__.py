"""Reports: versioned report.json, and its Markdown and HTML renderings."""
