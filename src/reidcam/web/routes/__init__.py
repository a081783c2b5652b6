"""HTTP routes of the web app, one module per resource."""
