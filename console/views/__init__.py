"""One module per console page; each page's view renders the whole page, or its partial for htmx."""
