"""Protocol layer: routes, middleware and thin handlers for the OCI Distribution API."""
