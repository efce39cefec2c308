"""The DRF API for bots and for the dashboard's pages (/api/v1/)."""
