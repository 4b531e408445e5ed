"""The HTTP face of Cordon: REST, the WebSocket live feed, and the map page's static files."""
