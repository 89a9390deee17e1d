"""HTTP and WebSocket APIs: the management server and the recorder's media API."""
